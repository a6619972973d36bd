"""What the REST API knows about each kind of clinical record, on top of its ``RecordKind``.

One ``ApiKind`` per collection: URL segment, serializers, the time field lists sort and filter
on, the related rows an input may name, and how a stored row becomes its wire form.

Wire form: lists read ``values_list()`` tuples (no model instances) and zip them with the wire
names; details turn the instance into the same tuple. orjson renders both. This is the path the
benchmark measures (docs/benchmarks.md); the output serializers in ``serializers.py`` describe
the result in the OpenAPI schema, and tests hold both to the same fields.
"""

import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from django.db import models
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone
from rest_framework import serializers

from accounts.models import CLINICIAN_ROLES, PatientProfile, Role, User
from config.errors import DomainError, Invalid
from recovery.outcomes.kinds import OUTCOME_SCORES
from recovery.outcomes.scoring import score_band
from recovery.preparation.kinds import COMPLICATIONS, IMAGING_STUDIES, PREP_ITEMS
from recovery.preparation.models import ImagingStudy
from recovery.record.kinds import (
    APPOINTMENTS,
    HOSPITAL_STAYS,
    MILESTONES,
    PAIN_LOGS,
    PT_SESSIONS,
    RESTRICTIONS,
    SURGERIES,
)
from recovery.record.models import ActivityRestriction, HospitalStay, Surgery
from recovery.record.selectors import restriction_status
from recovery.record.writes import RecordKind

from . import serializers as s

HIDDEN_COLUMNS = frozenset({"deleted_at", "sync_version"})
TZ = "patient__time_zone"
SORT = "_sort"


# --- Related rows named in an input ---------------------------------------------------------


def _not_found(attr: str) -> DomainError:
    return Invalid("No such record for this patient.", code="does_not_exist", attr=attr)


def surgery_ref(patient: PatientProfile, value: str, attr: str):
    found = Surgery.objects.filter(patient=patient, pk=value).first()
    if found is None:
        raise _not_found(attr)
    return found


def _staff_ref(roles):
    def resolve(patient: PatientProfile, value: int, attr: str):
        found = User.objects.filter(
            pk=value, clinic_id=patient.clinic_id, role__in=roles, is_active=True
        ).first()
        if found is None:
            raise Invalid(
                "No such clinician in the patient's clinic.", code="does_not_exist", attr=attr
            )
        return found

    return resolve


# --- Derived values -------------------------------------------------------------------------


def _today(tz_name: str, cache: dict) -> date:
    if tz_name not in cache:
        cache[tz_name] = timezone.localdate(timezone=zoneinfo.ZoneInfo(tz_name))
    return cache[tz_name]


def _restriction_derived(row: dict, cache: dict) -> None:
    tz_name = row.pop(TZ)
    shape = ActivityRestriction(
        starts_on=row["starts_on"], ends_on=row["ends_on"], lifted_on=row["lifted_on"]
    )
    row["status"] = restriction_status(shape, on=_today(tz_name, cache))


def imaging_ref(patient: PatientProfile, value: str, attr: str):
    found = ImagingStudy.objects.filter(patient=patient, pk=value).first()
    if found is None:
        raise _not_found(attr)
    return found


def _outcome_derived(row: dict, cache: dict) -> None:
    row["band"] = score_band(row["instrument"], row["score"])


def _stay_derived(row: dict, cache: dict) -> None:
    shape = HospitalStay(admitted_at=row["admitted_at"], discharged_at=row["discharged_at"])
    row["length_of_stay"] = shape.length_of_stay


@dataclass(frozen=True)
class ApiKind:
    record: RecordKind
    prefix: str  # URL segment
    output: type[serializers.Serializer]
    input: type[serializers.Serializer]
    # Lists are newest first by this (a non-null column or expression); since/until filter on it.
    sort: str | models.Expression
    sort_type: str  # "date" or "datetime"
    sort_help: str
    refs: dict[str, Callable] = field(default_factory=dict)
    derive: Callable[[dict, dict], None] | None = None
    needs_tz: bool = False

    # Derived once from the above.
    @property
    def model(self):
        return self.record.model

    @property
    def table(self) -> str:
        return self.record.table

    @property
    def patients_write(self) -> bool:
        """Patients may write this kind at all (else their writes are a 403)."""
        return self.record.patient_may_create

    @property
    def patients_change(self) -> bool:
        """Patients may change some rows of this kind (their own checklist items) even if
        they may not create it."""
        return self.patients_write or self.record.patient_fields is not None

    @property
    def name(self) -> str:
        return self.output.__name__.removesuffix("Output")

    def columns(self) -> tuple[tuple[str, str], ...]:
        """(wire name, column) of the stored fields on the wire."""
        return tuple(
            (f.name, f.attname)
            for f in self.model._meta.concrete_fields
            if f.name not in HIDDEN_COLUMNS
        )

    def sort_field(self) -> str:
        return self.sort if isinstance(self.sort, str) else SORT


# --- Wire form --------------------------------------------------------------------------------


class Wire:
    """Turns stored rows of one kind into dicts with wire names."""

    def __init__(self, kind: ApiKind, *, with_sort: bool = False):
        self.kind = kind
        pairs = kind.columns()
        self.names = [name for name, _ in pairs]
        self.values = [column for _, column in pairs]
        if kind.needs_tz:
            self.names.append(TZ)
            self.values.append(TZ)
        self.sort_index = None
        if with_sort:
            sort = kind.sort_field()
            if sort in self.values:
                self.sort_index = self.values.index(sort)
            else:
                self.names.append(SORT)
                self.values.append(SORT)
                self.sort_index = len(self.values) - 1
        self._drop_sort = with_sort and SORT in self.names

    def rows(self, tuples: list[tuple]) -> list[dict]:
        names = self.names
        # Every tuple has len(names) values (they come from the same column list): no strict
        # check, which costs as much as building the dicts.
        out = [dict(zip(names, row, strict=False)) for row in tuples]
        if self.kind.derive is not None or self._drop_sort:
            cache: dict = {}
            for row in out:
                row.pop(SORT, None)
                if self.kind.derive is not None:
                    self.kind.derive(row, cache)
        return out

    def instance(self, record) -> dict:
        row = [getattr(record, column) for column in self.values if column not in (TZ, SORT)]
        if self.kind.needs_tz:
            row.append(record.patient.time_zone)
        return self.rows([tuple(row)])[0]


def wire(kind: ApiKind, record) -> dict:
    return Wire(kind).instance(record)


API_KINDS: dict[str, ApiKind] = {
    api.prefix: api
    for api in (
        ApiKind(
            SURGERIES,
            "surgeries",
            s.SurgeryOutput,
            s.SurgeryInput,
            sort="performed_on",
            sort_type="date",
            sort_help="performed_on",
            refs={"prior_surgery": surgery_ref, "surgeon": _staff_ref((Role.SURGEON,))},
        ),
        ApiKind(
            HOSPITAL_STAYS,
            "hospital-stays",
            s.HospitalStayOutput,
            s.HospitalStayInput,
            sort="admitted_at",
            sort_type="datetime",
            sort_help="admitted_at",
            refs={"surgery": surgery_ref},
            derive=_stay_derived,
        ),
        ApiKind(
            PAIN_LOGS,
            "pain-logs",
            s.PainLogOutput,
            s.PainLogInput,
            sort="recorded_at",
            sort_type="datetime",
            sort_help="recorded_at",
        ),
        ApiKind(
            PT_SESSIONS,
            "pt-sessions",
            s.PTSessionOutput,
            s.PTSessionInput,
            sort=Coalesce("scheduled_for", "performed_at", output_field=models.DateTimeField()),
            sort_type="datetime",
            sort_help="scheduled_for (else performed_at)",
        ),
        ApiKind(
            RESTRICTIONS,
            "restrictions",
            s.RestrictionOutput,
            s.RestrictionInput,
            sort="starts_on",
            sort_type="date",
            sort_help="starts_on",
            derive=_restriction_derived,
            needs_tz=True,
        ),
        ApiKind(
            APPOINTMENTS,
            "appointments",
            s.AppointmentOutput,
            s.AppointmentInput,
            sort="starts_at",
            sort_type="datetime",
            sort_help="starts_at",
            refs={"clinician": _staff_ref(CLINICIAN_ROLES), "imaging_study": imaging_ref},
        ),
        ApiKind(
            MILESTONES,
            "milestones",
            s.MilestoneOutput,
            s.MilestoneInput,
            sort=Coalesce(
                "target_on", "achieved_on", TruncDate("created_at"), output_field=models.DateField()
            ),
            sort_type="date",
            sort_help="target_on (else achieved_on, else the day it was created)",
        ),
        ApiKind(
            OUTCOME_SCORES,
            "outcome-scores",
            s.OutcomeScoreOutput,
            s.OutcomeScoreInput,
            sort="completed_at",
            sort_type="datetime",
            sort_help="completed_at",
            refs={"surgery": surgery_ref},
            derive=_outcome_derived,
        ),
        ApiKind(
            PREP_ITEMS,
            "prep-items",
            s.PrepItemOutput,
            s.PrepItemInput,
            sort="due_on",
            sort_type="date",
            sort_help="due_on",
            refs={"surgery": surgery_ref},
        ),
        ApiKind(
            IMAGING_STUDIES,
            "imaging-studies",
            s.ImagingStudyOutput,
            s.ImagingStudyInput,
            sort="performed_on",
            sort_type="date",
            sort_help="performed_on",
            refs={"surgery": surgery_ref},
        ),
        ApiKind(
            COMPLICATIONS,
            "complications",
            s.ComplicationOutput,
            s.ComplicationInput,
            sort="noticed_on",
            sort_type="date",
            sort_help="noticed_on",
            refs={"surgery": surgery_ref},
        ),
    )
}


def resolve_refs(kind: ApiKind, patient: PatientProfile, values: dict) -> dict:
    """Replaces ids of related rows in ``values`` by the rows, looked up in the patient's scope
    (another patient's surgery is a 400 naming the field, as if it did not exist)."""
    for attr, resolve in kind.refs.items():
        if values.get(attr) is not None:
            values[attr] = resolve(patient, values[attr], attr)
    return values
