from django.db import migrations

SOURCE_LUMBAR = (
    "Minimum clinically important difference after revision and primary lumbar fusion, "
    "J Neurosurg Spine 2013;18(1):102"
)
SOURCE_NDI = (
    "Vernon H. The Neck Disability Index: state-of-the-art, 1991-2008. "
    "J Manipulative Physiol Ther 2008;31(7):491-502 (5 raw points = 10 percentage points)"
)

DEFAULTS = [
    ("odi", "revision_lumbar_fusion", "11.79", "percent", SOURCE_LUMBAR),
    ("nrs_back", "revision_lumbar_fusion", "1.21", "points", SOURCE_LUMBAR),
    ("nrs_leg", "revision_lumbar_fusion", "1.28", "points", SOURCE_LUMBAR),
    ("odi", "primary_lumbar_fusion", "12.40", "percent", SOURCE_LUMBAR),
    ("nrs_back", "primary_lumbar_fusion", "1.16", "points", SOURCE_LUMBAR),
    ("nrs_leg", "primary_lumbar_fusion", "1.36", "points", SOURCE_LUMBAR),
    ("ndi", "cervical", "10.00", "percent", SOURCE_NDI),
]


def add(apps, schema_editor):
    Mcid = apps.get_model("recovery", "MinimalImportantDifference")
    for instrument, population, value, unit, source in DEFAULTS:
        Mcid.objects.update_or_create(
            clinic=None, instrument=instrument, population=population,
            defaults={"value": value, "unit": unit, "source": source},
        )


def remove(apps, schema_editor):
    apps.get_model("recovery", "MinimalImportantDifference").objects.filter(clinic=None).delete()


class Migration(migrations.Migration):
    dependencies = [("recovery", "0002_outcome_scores")]
    operations = [migrations.RunPython(add, remove)]
