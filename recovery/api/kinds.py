"""How the REST API serves a table, derived from its ``RecordKind``.

The table's ``RecordKind`` (its capability's ``kinds.py``) says everything the edges share: the
model, the wire name (the URL segment is the same with ``-``), the time lists sort on, the staff
a writer may name. An ``ApiKind`` adds only what the API alone has, declared on the table's
viewset in ``views.py`` (``PainLogViewSet``...): its serializers, and values the API derives
for its answers (a restriction's ``status``). Everything else here is derived.

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
from django.utils import timezone
from rest_framework import serializers

from accounts.models import PatientProfile, User
from config.errors import Invalid
from recovery.outcomes.scoring import score_band
from recovery.outcomes.selectors import outcome_rows_with_change
from recovery.record.models import ActivityRestriction, ClinicalRecord, HospitalStay
from recovery.record.selectors import restriction_status
from recovery.record.writes import RecordKind

HIDDEN_COLUMNS = frozenset({"deleted_at", "sync_version"})
TZ = "patient__time_zone"
SORT = "_sort"


# --- Related rows named in an input ---------------------------------------------------------


def _record_ref(model: type[ClinicalRecord]):
    def resolve(patient: PatientProfile, value: str, attr: str):
        found = model.objects.filter(patient=patient, pk=value).first()
        if found is None:
            raise Invalid("No such record for this patient.", code="does_not_exist", attr=attr)
        return found

    return resolve


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


def input_refs(record: RecordKind) -> dict[str, Callable]:
    """How each related row an input may name is found, in the patient's scope: a clinical row
    of the same patient, or a user of the patient's clinic with the roles the kind names."""
    refs = {}
    for name in record.fields():
        model_field = record.model._meta.get_field(name)
        if not isinstance(model_field, models.ForeignKey):
            continue
        related = model_field.related_model
        if issubclass(related, ClinicalRecord):
            refs[name] = _record_ref(related)
        elif name in record.staff_roles:
            refs[name] = _staff_ref(record.staff_roles[name])
    return refs


# --- Derived values: the API's own, on top of the stored columns ----------------------------
# ``ApiKind.derive(row, cache)`` completes one wire row; ``cache`` lives for one page.
# ``ApiKind.derive_page(rows)`` then completes a whole page at once, for values that need the
# database (a fixed number of queries per page, never one per row).


def _today(tz_name: str, cache: dict) -> date:
    if tz_name not in cache:
        cache[tz_name] = timezone.localdate(timezone=zoneinfo.ZoneInfo(tz_name))
    return cache[tz_name]


def restriction_derived(row: dict, cache: dict) -> None:
    tz_name = row.pop(TZ)
    shape = ActivityRestriction(
        starts_on=row["starts_on"], ends_on=row["ends_on"], lifted_on=row["lifted_on"]
    )
    row["status"] = restriction_status(shape, on=_today(tz_name, cache))


def outcome_derived(row: dict, cache: dict) -> None:
    row["band"] = score_band(row["instrument"], row["score"])


def outcome_page_derived(rows: list[dict]) -> None:
    """Change from baseline and MCID of a page of outcome scores: a fixed number of queries
    for the whole page (``outcome_rows_with_change``), none for an empty one."""
    if rows:
        outcome_rows_with_change(rows)


def stay_derived(row: dict, cache: dict) -> None:
    shape = HospitalStay(admitted_at=row["admitted_at"], discharged_at=row["discharged_at"])
    # ZoneInfo keeps one instance per key itself: no page cache needed.
    row["length_of_stay"] = shape.nights_in(zoneinfo.ZoneInfo(row.pop(TZ)))


@dataclass(frozen=True)
class ApiKind:
    """One REST collection: the table's ``RecordKind`` and what only the API has."""

    record: RecordKind
    output: type[serializers.Serializer]
    input: type[serializers.Serializer]
    # Adds the API's derived values to a wire row (see above); ``needs_tz``: it reads the
    # patient's time zone.
    derive: Callable[[dict, dict], None] | None = None
    needs_tz: bool = False
    # Adds derived values that need the database to a whole page (a list's page, or the one
    # row of a detail), in place, in a fixed number of queries.
    derive_page: Callable[[list[dict]], None] | None = None
    # Related rows an input may name, and how each is looked up (``input_refs``).
    refs: dict[str, Callable] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.record.sort is None:
            raise ValueError(f"{self.record.table}: a REST collection needs a sort column")
        object.__setattr__(self, "refs", input_refs(self.record))

    # Derived from the RecordKind.
    @property
    def prefix(self) -> str:
        """The URL segment: the wire name with ``-`` (``pain_logs`` -> ``pain-logs``)."""
        return self.record.table.replace("_", "-")

    @property
    def sort(self) -> str | models.Expression:
        """Lists are newest first by this; since/until filter on it."""
        return self.record.sort

    @property
    def sort_type(self) -> str:
        """``date`` or ``datetime``: what since, until and the cursor hold."""
        sort = self.record.sort
        sort_field = (
            self.model._meta.get_field(sort) if isinstance(sort, str) else sort.output_field
        )
        return "datetime" if isinstance(sort_field, models.DateTimeField) else "date"

    @property
    def sort_help(self) -> str:
        return self.record.sort_help or self.record.sort

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
        if self.kind.derive_page is not None:
            self.kind.derive_page(out)
        return out

    def instance(self, record) -> dict:
        row = [getattr(record, column) for column in self.values if column not in (TZ, SORT)]
        if self.kind.needs_tz:
            row.append(record.patient.time_zone)
        return self.rows([tuple(row)])[0]


def wire(kind: ApiKind, record) -> dict:
    return Wire(kind).instance(record)


def resolve_refs(kind: ApiKind, patient: PatientProfile, values: dict) -> dict:
    """Replaces ids of related rows in ``values`` by the rows, looked up in the patient's scope
    (another patient's surgery is a 400 naming the field, as if it did not exist)."""
    for attr, resolve in kind.refs.items():
        if values.get(attr) is not None:
            values[attr] = resolve(patient, values[attr], attr)
    return values
