"""The demo patients have a plausible post-operative medication list, written through the
services, that a reseed neither duplicates nor brings back once deleted (issue 19 item 10)."""

from datetime import timedelta

import pytest
from django.core.management import call_command

from accounts.models import PatientProfile
from recovery.models import Medication, PainLog, Surgery
from recovery.record.kinds import MEDICATIONS
from recovery.record.writes import record_delete

pytestmark = pytest.mark.django_db


def _list(patient):
    return {
        m.pk: m for m in Medication.objects.filter(patient=patient).select_related("created_by")
    }


def test_the_demo_patient_has_a_post_op_medication_list(api, demo):
    day0 = Surgery.objects.get(pk="demo-revision-l4l5").performed_on
    meds = _list(demo)
    by_name = {m.name: m for m in meds.values()}
    assert set(by_name) == {
        "Oxycodone",
        "Acetaminophen (paracetamol)",
        "Gabapentin",
        "Senna-docusate",
        "Melatonin",
    }
    opioid = by_name["Oxycodone"]
    assert (opioid.started_on, opioid.stopped_on) == (day0, day0 + timedelta(days=30))
    assert opioid.dose and opioid.created_by == demo.surgeon
    assert by_name["Gabapentin"].stopped_on is None
    assert by_name["Acetaminophen (paracetamol)"].stopped_on is None
    assert by_name["Melatonin"].created_by == demo.user  # the patient's own entry
    assert not any(
        "naproxen" in m.name.lower() or "ibuprofen" in m.name.lower() for m in meds.values()
    )

    # Pain logs name what was taken, from the list; the opioid only while it was taken.
    logs = list(PainLog.objects.filter(patient=demo))
    named = [log for log in logs if log.medications]
    assert named and all(log.medication_taken for log in named)
    assert {i for log in named for i in log.medications} <= set(meds)
    for log in named:
        if opioid.pk in log.medications:
            assert log.recorded_at.astimezone(demo.tz).date() <= opioid.stopped_on
    assert any(opioid.pk in log.medications for log in named)

    # The app sees the list (the write path stamped the sync clock).
    rows = api(demo.user).get("/api/v1/medications/").json()["results"]
    assert {r["id"] for r in rows} == set(meds)


def test_the_second_patient_has_a_short_course_too(demo):
    other = PatientProfile.objects.get(user__email="patient2@demo.test")
    day0 = Surgery.objects.get(pk="demo2-revision").performed_on
    by_name = {m.name: m for m in _list(other).values()}
    assert by_name["Tramadol"].stopped_on == day0 + timedelta(days=10)
    assert by_name["Tramadol"].created_by == other.surgeon
    assert set(_list(demo)).isdisjoint(_list(other))


def test_a_reseed_changes_nothing(demo):
    before = {m.pk: (m.updated_at, m.sync_version) for m in Medication.all_objects.all()}
    call_command("seed_demo", verbosity=0)
    after = {m.pk: (m.updated_at, m.sync_version) for m in Medication.all_objects.all()}
    assert after == before and len(before) == 7


def test_a_database_seeded_before_the_list_gets_it_once(demo):
    # As seeded by an earlier demo: the records, no medication list.
    Medication.all_objects.all().delete()
    PainLog.objects.update(medications=[])
    call_command("seed_demo", verbosity=0)
    assert len(_list(demo)) == 5
    assert Medication.objects.filter(patient__user__email="patient2@demo.test").count() == 2
    call_command("seed_demo", verbosity=0)
    assert Medication.all_objects.count() == 7


def test_a_medication_deleted_in_the_demo_stays_deleted(demo):
    opioid = Medication.objects.get(pk="demo-med-oxycodone")
    record_delete(MEDICATIONS, actor=demo.surgeon, record=opioid)
    call_command("seed_demo", verbosity=0)
    assert not Medication.objects.filter(pk="demo-med-oxycodone").exists()
    assert Medication.all_objects.get(pk="demo-med-oxycodone").deleted_at is not None
