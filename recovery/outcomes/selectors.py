"""Change from baseline of outcome scores, and whether it reaches the minimal clinically
important difference (MCID) for the patient's population, at every follow-up timepoint.

Two entry points, each a fixed number of queries whatever the number of scores or patients:
``outcome_score_changes(scores)`` judges given scores (a page of the API or of the admin list),
``outcome_changes_for(patients)`` every follow-up of given patients (the admin's patient list and
the timeline header).

The baseline of a follow-up is the latest baseline of the same patient and instrument for the
same surgery; a follow-up without a surgery, or whose surgery has no baseline, is compared with
the patient's latest baseline of that instrument. ``change`` is baseline minus follow-up: lower
is better on every instrument, so a positive change is an improvement. The MCID is that of the
population of the score's surgery (else the patient's current surgery), the clinic's own value
first.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q

from accounts.models import PatientProfile
from recovery.record.models import (
    Procedure,
    Region,
    Surgery,
)
from recovery.record.selectors import CURRENT_SURGERY_FIRST

from .models import (
    MinimalImportantDifference,
    OutcomeScore,
    Timepoint,
)

FOLLOW_UPS = tuple(t for t in Timepoint.values if t != Timepoint.BASELINE)


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


@dataclass(frozen=True)
class _Score:
    """What judging a score needs, from a model instance or an API wire row."""

    id: str
    patient_id: int
    instrument: str
    timepoint: str
    score: Decimal
    surgery_id: str | None


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


class _Judge:
    """Baselines, surgeries and MCIDs of some patients, loaded in three queries (two when the
    caller loaded the baselines, four when it did not give the patients' clinics)."""

    def __init__(
        self,
        patient_ids: set[int],
        *,
        clinic_of: dict[int, int] | None = None,
        baselines: list[tuple] | None = None,
    ):
        ids = sorted(patient_ids)
        if clinic_of is None:
            clinic_of = dict(
                PatientProfile.objects.filter(pk__in=ids).values_list("pk", "clinic_id")
            )
        self.clinic_of = clinic_of
        if baselines is None:
            baselines = list(
                OutcomeScore.objects.filter(patient_id__in=ids, timepoint=Timepoint.BASELINE)
                .order_by("completed_at", "id")
                .values_list("patient_id", "instrument", "surgery_id", "score")
            )
        self.baseline: dict[tuple, Decimal] = {}  # (patient, instrument, surgery or None)
        for pid, instrument, surgery_id, score in baselines:  # in time order: the latest wins
            self.baseline[(pid, instrument, surgery_id)] = score
            self.baseline[(pid, instrument, None)] = score
        self.surgeries: dict[str, Surgery] = {}
        self.current: dict[int, Surgery] = {}
        for surgery in Surgery.objects.filter(patient_id__in=ids).order_by(*CURRENT_SURGERY_FIRST):
            self.surgeries[surgery.pk] = surgery
            self.current.setdefault(surgery.patient_id, surgery)
        self.mcids: dict[tuple, MinimalImportantDifference] = {}
        clinics = set(clinic_of.values())
        for mcid in MinimalImportantDifference.objects.filter(
            Q(clinic__isnull=True) | Q(clinic_id__in=clinics)
        ):
            self.mcids[(mcid.clinic_id, mcid.instrument, mcid.population)] = mcid

    def change(self, s: _Score) -> OutcomeChange | None:
        if s.timepoint == Timepoint.BASELINE:
            return None
        baseline = self.baseline.get((s.patient_id, s.instrument, s.surgery_id))
        if baseline is None:
            baseline = self.baseline.get((s.patient_id, s.instrument, None))
        if baseline is None:
            return None
        surgery = self.surgeries.get(s.surgery_id) if s.surgery_id else None
        population = outcome_population(surgery or self.current.get(s.patient_id))
        clinic = self.clinic_of.get(s.patient_id)
        mcid = self.mcids.get((clinic, s.instrument, population)) or self.mcids.get(
            (None, s.instrument, population)
        )
        change = baseline - s.score
        value = _mcid_value(mcid) if mcid else None
        return OutcomeChange(
            instrument=s.instrument,
            timepoint=s.timepoint,
            baseline=baseline,
            score=s.score,
            change=change,
            mcid=value,
            mcid_source=mcid.source if mcid else "",
            meets_mcid=(change >= value) if value is not None else None,
        )


def _as_score(item) -> _Score:
    if isinstance(item, dict):  # an API wire row: foreign keys hold ids under their names
        return _Score(
            id=item["id"],
            patient_id=item["patient"],
            instrument=item["instrument"],
            timepoint=item["timepoint"],
            score=Decimal(item["score"]),
            surgery_id=item.get("surgery"),
        )
    return _Score(
        id=item.pk,
        patient_id=item.patient_id,
        instrument=item.instrument,
        timepoint=item.timepoint,
        score=item.score,
        surgery_id=item.surgery_id,
    )


def outcome_score_changes(scores: Iterable) -> dict[str, OutcomeChange | None]:
    """Score id -> its change from baseline and MCID (None for a baseline, or a follow-up
    without a baseline), for ``OutcomeScore`` rows or API wire rows. Four queries."""
    items = [_as_score(item) for item in scores]
    if not items:
        return {}
    judge = _Judge({s.patient_id for s in items})
    return {s.id: judge.change(s) for s in items}


def outcome_rows_with_change(rows: list[dict]) -> list[dict]:
    """Adds ``change_from_baseline`` and ``mcid_reached`` to API wire rows of outcome scores
    (a page: four queries whatever its length), in place."""
    changes = outcome_score_changes(rows)
    for row in rows:
        change = changes.get(row["id"])
        row["change_from_baseline"] = change.change if change else None
        row["mcid_reached"] = change.meets_mcid if change else None
    return rows


def outcome_changes_for(patients) -> dict[int, list[OutcomeChange]]:
    """For each patient: the change from baseline of the latest score at every follow-up
    timepoint, per instrument (ordered by instrument, then timepoint). Three queries."""
    patients = list(patients)
    ids = {p.pk for p in patients}
    scores = list(OutcomeScore.objects.filter(patient_id__in=ids).order_by("completed_at", "id"))
    judge = _Judge(
        ids,
        clinic_of={p.pk: p.clinic_id for p in patients},
        baselines=[
            (s.patient_id, s.instrument, s.surgery_id, s.score)
            for s in scores
            if s.timepoint == Timepoint.BASELINE
        ],
    )
    latest: dict[tuple, OutcomeScore] = {}
    for score in scores:
        if score.timepoint != Timepoint.BASELINE:
            latest[(score.patient_id, score.instrument, score.timepoint)] = score
    order = {t: i for i, t in enumerate(FOLLOW_UPS)}
    result: dict[int, list[OutcomeChange]] = {pid: [] for pid in ids}
    for key in sorted(latest, key=lambda k: (k[0], k[1], order[k[2]])):
        change = judge.change(_as_score(latest[key]))
        if change is not None:
            result[key[0]].append(change)
    return result
