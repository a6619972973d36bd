"""Change from baseline of outcome scores, and whether it reaches the minimal clinically
important difference (MCID) for the patient's population. Three queries for any number of
patients (the admin's patient list and the timeline use the same function)."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q

from recovery.record.models import (
    Procedure,
    Region,
    Surgery,
)
from recovery.record.selectors import current_surgeries

from .models import (
    MinimalImportantDifference,
    OutcomeScore,
    Timepoint,
)

FOLLOW_UPS = (Timepoint.MONTH_3, Timepoint.MONTH_12)


@dataclass(frozen=True)
class OutcomeChange:
    instrument: str
    timepoint: str
    baseline: Decimal
    score: Decimal
    change: Decimal  # improvement: baseline minus follow-up (lower is better on every instrument)
    mcid: Decimal | None
    mcid_source: str
    meets_mcid: bool | None


def outcome_population(surgery: Surgery | None) -> str | None:
    if surgery is None:
        return None
    if surgery.region == Region.CERVICAL:
        return "cervical"
    if surgery.region in (Region.LUMBAR, Region.SACRAL) and surgery.procedure == Procedure.FUSION:
        return "revision_lumbar_fusion" if surgery.is_revision else "primary_lumbar_fusion"
    return None


def _mcid_value(mcid: MinimalImportantDifference) -> Decimal:
    # Scores are stored as percentages (ODI/NDI) or points (NRS); an NDI MCID in raw points
    # (0-50 scale) is doubled to compare with percentages.
    if mcid.instrument == "ndi" and mcid.unit == "points":
        return mcid.value * 2
    return mcid.value


def outcome_changes_for(patients) -> dict[int, list[OutcomeChange]]:
    """For each patient: change from baseline at 3 and 12 months, per instrument."""
    patients = list(patients)
    ids = [p.pk for p in patients]
    clinic_of = {p.pk: p.clinic_id for p in patients}
    surgeries = current_surgeries(ids)
    scores = OutcomeScore.objects.filter(
        patient_id__in=ids, timepoint__in=[Timepoint.BASELINE, *FOLLOW_UPS]
    ).order_by("patient_id", "instrument", "timepoint", "completed_at")
    latest: dict[tuple, Decimal] = {}
    for row in scores.values("patient_id", "instrument", "timepoint", "score"):
        latest[(row["patient_id"], row["instrument"], row["timepoint"])] = row["score"]
    clinics = {c for c in clinic_of.values()}
    mcids: dict[tuple, MinimalImportantDifference] = {}
    for mcid in MinimalImportantDifference.objects.filter(
        Q(clinic__isnull=True) | Q(clinic_id__in=clinics)
    ):
        mcids[(mcid.clinic_id, mcid.instrument, mcid.population)] = mcid

    result: dict[int, list[OutcomeChange]] = {pid: [] for pid in ids}
    for (pid, instrument, timepoint), score in sorted(latest.items()):
        if timepoint == Timepoint.BASELINE:
            continue
        baseline = latest.get((pid, instrument, Timepoint.BASELINE))
        if baseline is None:
            continue
        population = outcome_population(surgeries.get(pid))
        mcid = mcids.get((clinic_of[pid], instrument, population)) or mcids.get(
            (None, instrument, population)
        )
        change = baseline - score
        value = _mcid_value(mcid) if mcid else None
        result[pid].append(
            OutcomeChange(
                instrument=instrument,
                timepoint=timepoint,
                baseline=baseline,
                score=score,
                change=change,
                mcid=value,
                mcid_source=mcid.source if mcid else "",
                meets_mcid=(change >= value) if value is not None else None,
            )
        )
    return result
