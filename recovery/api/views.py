"""The clinical record over REST: one viewset per table, all of one shape (``RecordViewSet``).

A table's viewset names its ``RecordKind`` (``kind = PAIN_LOGS``) and what only the API has
(its serializers, derived values, domain actions such as ``lift``); ``urls.py`` routes each one.
Its ``ApiKind`` (``viewset.api``) and its OpenAPI description are derived when the class is
defined.

Each method validates its input with a strict serializer, calls one selector or service and
answers the record's wire form (``kinds.Wire``). Role rules live in the services; the views add
the two checks that must come before any write: the caller's scope (another patient's id is a
404) and, for patients, whether they write this kind at all (a 403).
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from accounts.audit import phi_access_record
from accounts.models import PatientProfile
from accounts.selectors import own_patient_id, patients_for
from config.api.openapi import ErrorResponseSerializer
from config.api.pagination import KeysetCursor
from config.api.renderers import OrjsonRenderer
from config.errors import Invalid
from recovery.activity import services as activity
from recovery.activity.kinds import DAILY_STEPS
from recovery.outcomes.kinds import OUTCOME_SCORES
from recovery.preparation.kinds import COMPLICATIONS, IMAGING_STUDIES, PREP_ITEMS
from recovery.record import services
from recovery.record.kinds import (
    APPOINTMENTS,
    HOSPITAL_STAYS,
    MEDICATIONS,
    MILESTONES,
    PAIN_LOGS,
    PT_SESSIONS,
    RESTRICTIONS,
    SURGERIES,
)
from recovery.record.models import RECORD_ID_PATTERN
from recovery.record.selectors import record_get
from recovery.record.writes import (
    RecordKind,
    forbidden,
    record_create,
    record_delete,
    record_update,
)

from . import serializers as s
from .kinds import (
    ApiKind,
    outcome_derived,
    outcome_page_derived,
    resolve_refs,
    restriction_derived,
    stay_derived,
    wire,
)
from .lists import record_page

ID_REGEX = RECORD_ID_PATTERN.strip("^$")


def _errors(*codes: int) -> dict:
    described = {
        400: "Invalid input (`attr` names the field).",
        401: "Not signed in.",
        403: "Not allowed for this role or record.",
        404: "No such record in your scope.",
        409: "Conflicts with the stored record (id taken, deleted, or another state).",
    }
    return {
        code: OpenApiResponse(ErrorResponseSerializer, description=described[code])
        for code in codes
    }


WRITE_ERRORS = _errors(400, 401, 403, 404, 409)


class RecordViewSet(viewsets.ViewSet):
    """list, create, retrieve, partial update and delete of one kind of clinical record.

    A subclass declares ``kind`` (the table's RecordKind), ``output`` and ``input`` (its
    serializers) and, if the API adds values of its own to the answer, ``derive`` (and
    ``needs_tz``) per row or ``derive_page`` per page; the rest is derived here when the subclass is defined (``__init_subclass__``).
    """

    kind: RecordKind
    output: type[s.serializers.Serializer]
    input: type[s.StrictSerializer]
    derive = None
    derive_page = None
    needs_tz = False

    # Derived.
    api: ApiKind
    create_input: type[s.StrictSerializer]
    list_query: type[s.StrictSerializer]
    # One instance validates every list's query string: ``run_validation`` keeps no state on it,
    # and a new serializer per request would deep-copy its fields (more than the validation costs).
    list_query_validator: s.StrictSerializer

    permission_classes = [IsAuthenticated]
    renderer_classes = [OrjsonRenderer]
    lookup_field = "id"
    lookup_value_regex = ID_REGEX

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.api = ApiKind(
            cls.kind,
            cls.output,
            cls.input,
            derive=cls.derive,
            derive_page=cls.derive_page,
            needs_tz=cls.needs_tz,
        )
        cls.create_input = s.create_serializer(cls.input)
        cls.list_query = s.list_query_serializer(cls.api.name, cls.api.sort_type, cls.api.sort_help)
        cls.list_query_validator = cls.list_query()
        cls.queryset = cls.kind.model.objects.none()  # for the schema's path parameter type
        if cls.__doc__ is None:
            who = (
                "patients and their care team"
                if cls.api.patients_write
                else "the care team (patients: 403)"
            )
            cls.__doc__ = f"{cls.kind.table}: written by {who}."
        _describe(cls)

    # --- helpers --------------------------------------------------------------------------

    def _valid(self, serializer_class, data, **kwargs) -> dict:
        serializer = serializer_class(data=data, **kwargs)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def _record(self, record_id: str):
        return record_get(self.request.user, self.kind, record_id)

    def _patients_may_not_write(self) -> None:
        if self.request.user.is_patient and not self.api.patients_write:
            raise forbidden(f"Only the care team writes {self.api.table}.")

    def _patients_may_not_change(self) -> None:
        if self.request.user.is_patient and not self.api.patients_change:
            raise forbidden(f"Only the care team writes {self.api.table}.")

    def _create_target(self, patient_id: int | None) -> PatientProfile:
        user = self.request.user
        if user.is_patient:
            if patient_id is not None:
                raise Invalid(
                    "Patients do not send this field: their records are their own.",
                    code="not_allowed",
                    attr="patient",
                )
            patient = patients_for(user).first()
            if patient is None:
                raise forbidden("This account has no patient record.")
            return patient
        if patient_id is None:
            raise Invalid("This field is required.", code="required", attr="patient")
        # A caregiver writes for the patients whose grant carries ``log`` (the role rules in
        # ``recovery.record.writes`` then say which tables); staff: their care team's patients.
        patient = patients_for(user, "log").filter(pk=patient_id).first()
        if patient is None:
            raise Invalid("No such patient in your care.", code="does_not_exist", attr="patient")
        return patient

    def _list_patient(self, patient_id: int | None) -> int | None:
        """The patient a list is narrowed to, if any (a patient's lists are their own already)."""
        user = self.request.user
        if user.is_patient:
            if patient_id is not None and patient_id != own_patient_id(user):
                raise Invalid("No such patient.", code="does_not_exist", attr="patient")
            return None
        if patient_id is not None and not patients_for(user).filter(pk=patient_id).exists():
            raise Invalid("No such patient in your care.", code="does_not_exist", attr="patient")
        return patient_id

    def _answer(self, record, code=status.HTTP_200_OK, *, audit: bool = True) -> Response:
        """The record on the wire. Every answer that shows staff an existing record (retrieve,
        change, and every action such as ``lift`` or ``cancel``) is written to the PHI access
        log; a create passes ``audit=False``: its answer echoes what the caller just wrote."""
        if audit:
            phi_access_record(
                user=self.request.user,
                patient_ids=[record.patient_id],
                action=self.action,
                resource=self.api.table,
                request=self.request,
                object_id=record.pk,
            )
        return Response(wire(self.api, record), status=code)

    # --- collection -----------------------------------------------------------------------

    def list(self, request):
        query = self.list_query_validator.run_validation(request.query_params)
        since, until = query.get("since"), query.get("until")
        if since is not None and until is not None and until <= since:
            raise Invalid("until must be after since.", code="invalid_range", attr="until")
        cursor = query.get("cursor")
        page = record_page(
            user=request.user,
            kind=self.api,
            patient_id=self._list_patient(query.get("patient")),
            since=since,
            until=until,
            updated_since=query.get("updated_since"),
            cursor=KeysetCursor.decode(cursor, sort_type=self.api.sort_type) if cursor else None,
            page_size=query.get("page_size", 50),
        )
        phi_access_record(
            user=request.user,
            patient_ids=page.patient_ids,
            action="list",
            resource=self.api.table,
            request=request,
        )
        next_url = None
        if page.next_cursor:
            next_url = replace_query_param(request.build_absolute_uri(), "cursor", page.next_cursor)
        return Response({"next": next_url, "results": page.rows})

    def create(self, request):
        self._patients_may_not_write()
        values = self._valid(self.create_input, request.data)
        patient = self._create_target(values.pop("patient", None))
        resolve_refs(self.api, patient, values)
        record, created = record_create(
            self.kind, actor=request.user, patient=patient, id=values.pop("id", None), **values
        )
        return self._answer(
            record, status.HTTP_201_CREATED if created else status.HTTP_200_OK, audit=False
        )

    # --- one record -----------------------------------------------------------------------

    def retrieve(self, request, id):
        return self._answer(self._record(id))

    def partial_update(self, request, id):
        record = self._record(id)
        self._patients_may_not_change()
        values = self._valid(self.input, request.data, partial=True)
        resolve_refs(self.api, record.patient, values)
        return self._answer(record_update(self.kind, actor=request.user, record=record, **values))

    def destroy(self, request, id):
        record = self._record(id)
        self._patients_may_not_write()
        record_delete(self.kind, actor=request.user, record=record)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _describe(viewset: type[RecordViewSet]) -> None:
    """The OpenAPI description of a table's viewset."""
    kind = viewset.api
    create_input, list_query, out = viewset.create_input, viewset.list_query, kind.output
    tags = [kind.prefix]
    extend_schema_view(
        list=extend_schema(
            tags=tags,
            summary=f"List {kind.table}",
            description="Newest first, cursor-paginated. Clinicians see their care-team "
            "patients' rows (filter with `patient`); patients their own.",
            parameters=[list_query],
            responses={200: s.page_serializer(out), **_errors(400, 401)},
        ),
        create=extend_schema(
            tags=tags,
            summary=f"Create a {kind.model._meta.verbose_name}",
            description=(
                "One row per patient and day: a count for a day already stored replaces it "
                "(when counted at the same time or later, `counted_at`) and answers the day's "
                "row with 200, whatever `id` was sent (its `id` may differ); a new day is 201. "
                "Never a 409 for a day already stored."
                if viewset.kind.put is not None
                else "Idempotent by `id`: the same id and content again answers the stored "
                "record with 200; the same id with other content is a 409."
            ),
            request=create_input,
            responses={
                201: OpenApiResponse(out, description="Created."),
                200: OpenApiResponse(
                    out, description="This id was created before: the stored record."
                ),
                **_errors(400, 401, 403, 409),
            },
        ),
        retrieve=extend_schema(
            tags=tags,
            summary=f"One {kind.model._meta.verbose_name}",
            responses={200: out, **_errors(401, 404)},
        ),
        partial_update=extend_schema(
            tags=tags,
            summary=f"Change a {kind.model._meta.verbose_name}",
            request=kind.input,
            responses={200: out, **WRITE_ERRORS},
        ),
        destroy=extend_schema(
            tags=tags,
            summary=f"Delete a {kind.model._meta.verbose_name}",
            description="A tombstone: gone from the API, told to devices by sync.",
            responses={204: None, **_errors(401, 403, 404)},
        ),
    )(viewset)


def _action_schema(tag, request, response, summary):
    return extend_schema(
        tags=[tag], summary=summary, request=request, responses={200: response, **WRITE_ERRORS}
    )


# --- The collections (urls.py routes each under its ``api.prefix``) ---------------------------


class SurgeryViewSet(RecordViewSet):
    kind = SURGERIES
    output = s.SurgeryOutput
    input = s.SurgeryInput


class HospitalStayViewSet(RecordViewSet):
    kind = HOSPITAL_STAYS
    output = s.HospitalStayOutput
    input = s.HospitalStayInput
    derive = stay_derived
    needs_tz = True

    @_action_schema(
        "hospital-stays", s.DischargeInput, s.HospitalStayOutput, "Discharge (care team)"
    )
    @action(detail=True, methods=["post"])
    def discharge(self, request, id):
        record = self._record(id)
        self._patients_may_not_write()
        values = self._valid(s.DischargeInput, request.data)
        return self._answer(
            services.hospital_stay_discharge(actor=request.user, stay=record, **values)
        )


class MedicationViewSet(RecordViewSet):
    kind = MEDICATIONS
    output = s.MedicationOutput
    input = s.MedicationInput


class PainLogViewSet(RecordViewSet):
    kind = PAIN_LOGS
    output = s.PainLogOutput
    input = s.PainLogInput


class DailyStepsViewSet(RecordViewSet):
    """daily_steps: the phone's count of each local day, one row per day (patients write their
    own; the care team reads). A create for a day already stored replaces its count (if counted
    at the same time or later) and answers the day's row, whose id may differ from the one
    sent (docs/api.md, "Daily steps")."""

    kind = DAILY_STEPS
    output = s.DailyStepsOutput
    input = s.DailyStepsInput

    def create(self, request):
        self._patients_may_not_write()
        values = self._valid(self.create_input, request.data)
        patient = self._create_target(values.pop("patient", None))
        record, created = activity.daily_steps_record(
            actor=request.user, patient=patient, id=values.pop("id", None), **values
        )
        return self._answer(
            record, status.HTTP_201_CREATED if created else status.HTTP_200_OK, audit=False
        )

    def partial_update(self, request, id):
        record = self._record(id)
        self._patients_may_not_change()
        values = self._valid(self.input, request.data, partial=True)
        if "day" in values and values["day"] != record.day:
            raise Invalid(
                "The day of a count does not change; send the count for the other day instead.",
                code="day_fixed",
                attr="day",
            )
        return self._answer(record_update(self.kind, actor=request.user, record=record, **values))


class PTSessionViewSet(RecordViewSet):
    kind = PT_SESSIONS
    output = s.PTSessionOutput
    input = s.PTSessionInput

    @_action_schema(
        "pt-sessions", s.CompleteSessionInput, s.PTSessionOutput, "Mark a PT session completed"
    )
    @action(detail=True, methods=["post"])
    def complete(self, request, id):
        record = self._record(id)
        values = self._valid(s.CompleteSessionInput, request.data)
        return self._answer(
            services.pt_session_complete(actor=request.user, session=record, **values)
        )


class RestrictionViewSet(RecordViewSet):
    kind = RESTRICTIONS
    output = s.RestrictionOutput
    input = s.RestrictionInput
    derive = restriction_derived
    needs_tz = True

    @_action_schema(
        "restrictions", s.LiftInput, s.RestrictionOutput, "Lift a restriction (care team)"
    )
    @action(detail=True, methods=["post"])
    def lift(self, request, id):
        record = self._record(id)
        self._patients_may_not_write()
        values = self._valid(s.LiftInput, request.data)
        return self._answer(
            services.restriction_lift(actor=request.user, restriction=record, **values)
        )


class AppointmentViewSet(RecordViewSet):
    kind = APPOINTMENTS
    output = s.AppointmentOutput
    input = s.AppointmentInput

    @_action_schema(
        "appointments", s.RescheduleInput, s.AppointmentOutput, "Move a scheduled appointment"
    )
    @action(detail=True, methods=["post"])
    def reschedule(self, request, id):
        record = self._record(id)
        self._patients_may_not_write()
        values = self._valid(s.RescheduleInput, request.data)
        return self._answer(
            services.appointment_reschedule(actor=request.user, appointment=record, **values)
        )

    @_action_schema(
        "appointments", s.EmptyInput, s.AppointmentOutput, "Cancel a scheduled appointment"
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, id):
        record = self._record(id)
        self._patients_may_not_write()
        self._valid(s.EmptyInput, request.data)
        return self._answer(services.appointment_cancel(actor=request.user, appointment=record))

    @_action_schema(
        "appointments", s.EmptyInput, s.AppointmentOutput, "Mark a scheduled appointment completed"
    )
    @action(detail=True, methods=["post"])
    def complete(self, request, id):
        record = self._record(id)
        self._patients_may_not_write()
        self._valid(s.EmptyInput, request.data)
        return self._answer(services.appointment_complete(actor=request.user, appointment=record))


class MilestoneViewSet(RecordViewSet):
    kind = MILESTONES
    output = s.MilestoneOutput
    input = s.MilestoneInput

    @_action_schema(
        "milestones",
        s.AchieveInput,
        s.MilestoneOutput,
        "Mark a milestone achieved (patient or care team)",
    )
    @action(detail=True, methods=["post"])
    def achieve(self, request, id):
        record = self._record(id)
        values = self._valid(s.AchieveInput, request.data)
        return self._answer(
            services.milestone_achieve(actor=request.user, milestone=record, **values)
        )


class OutcomeScoreViewSet(RecordViewSet):
    kind = OUTCOME_SCORES
    output = s.OutcomeScoreOutput
    input = s.OutcomeScoreInput
    derive = outcome_derived
    derive_page = outcome_page_derived


class PrepItemViewSet(RecordViewSet):
    kind = PREP_ITEMS
    output = s.PrepItemOutput
    input = s.PrepItemInput


class ImagingStudyViewSet(RecordViewSet):
    kind = IMAGING_STUDIES
    output = s.ImagingStudyOutput
    input = s.ImagingStudyInput


class ComplicationViewSet(RecordViewSet):
    kind = COMPLICATIONS
    output = s.ComplicationOutput
    input = s.ComplicationInput


VIEWSETS: tuple[type[RecordViewSet], ...] = (
    SurgeryViewSet,
    HospitalStayViewSet,
    MedicationViewSet,
    PainLogViewSet,
    DailyStepsViewSet,
    PTSessionViewSet,
    RestrictionViewSet,
    AppointmentViewSet,
    MilestoneViewSet,
    OutcomeScoreViewSet,
    PrepItemViewSet,
    ImagingStudyViewSet,
    ComplicationViewSet,
)
API_KINDS: dict[str, ApiKind] = {viewset.api.prefix: viewset.api for viewset in VIEWSETS}
