"""Red-flag check-ins (``POST /api/v1/check-ins/``) and the care team's alerts."""

from datetime import datetime

from django.db import transaction
from django.db.models import Case, IntegerField, Q, Value, When
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.audit import phi_access_record
from accounts.models import Role
from accounts.selectors import patients_for
from config.api.openapi import errors
from config.api.pagination import (
    KeysetCursor,
    PageQuery,
    next_page_url,
    page_serializer,
    position_decode,
    position_encode,
)
from config.api.serializers import StrictSerializer
from config.errors import Forbidden, Invalid, NotFound
from recovery.care.models import (
    TEMPERATURE_MAX_C,
    TEMPERATURE_MIN_C,
    TEMPERATURE_RANGE_MESSAGE,
    Alert,
    AlertStatus,
    CheckIn,
    Tier,
)
from recovery.record.selectors import records_for
from recovery.record.writes import record_create

from ..alerts import alert_acknowledge, alert_resolve, check_in_rules_hit
from ..kinds import CHECK_INS

CHECK_IN_FIELDS = [
    "answered_at",
    "temperature_c",
    "wound_redness",
    "wound_swelling_or_drainage",
    "wound_opening",
    "new_numbness_or_weakness",
    "bowel_bladder_loss_or_saddle_numbness",
    "cannot_move_limb",
    "calf_pain_or_leg_swelling",
    "chest_pain_or_breathless",
    "trouble_swallowing_or_breathing",
    "pain_uncontrolled",
    "fell",
    "notes",
]


PATIENT_FIELD_HELP = (
    "Caregivers: the patient (required for a caregiver of more than one patient; "
    "see GET /me/caregiving/). Patients leave it out."
)


class CheckInInput(StrictSerializer):
    id = serializers.RegexField(
        r"^[A-Za-z0-9_-]{1,36}$", required=False, help_text="client-chosen id"
    )
    answered_at = serializers.DateTimeField()
    temperature_c = serializers.DecimalField(
        max_digits=4,
        decimal_places=1,
        min_value=TEMPERATURE_MIN_C,
        max_value=TEMPERATURE_MAX_C,
        required=False,
        allow_null=True,
        error_messages={
            "min_value": TEMPERATURE_RANGE_MESSAGE,
            "max_value": TEMPERATURE_RANGE_MESSAGE,
        },
        help_text="degrees Celsius, 30.0-43.0",
    )
    notes = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    patient = serializers.IntegerField(required=False, min_value=1, help_text=PATIENT_FIELD_HELP)

    def get_fields(self):
        fields = super().get_fields()
        for name in CHECK_IN_FIELDS:
            if name not in fields:
                fields[name] = serializers.BooleanField(required=False, allow_null=True)
        return fields


class CheckInOutput(serializers.ModelSerializer):
    class Meta:
        model = CheckIn
        fields = ["id", *CHECK_IN_FIELDS, "created_by", "created_at", "updated_at"]


class TriageAlertOutput(serializers.Serializer):
    tier = serializers.ChoiceField(choices=Tier.choices)
    title = serializers.CharField()


class TriageOutput(serializers.Serializer):
    call_emergency_services = serializers.BooleanField(
        help_text="show `message` before anything else"
    )
    tier = serializers.ChoiceField(choices=Tier.choices, allow_null=True)
    message = serializers.CharField(allow_blank=True)
    alerts = TriageAlertOutput(many=True)


class CheckInResultOutput(serializers.Serializer):
    triage = TriageOutput()
    check_in = CheckInOutput()


def _triage_body(rules) -> dict:
    top = rules[0] if rules else None
    return {
        "call_emergency_services": bool(top and top.tier == Tier.EMERGENCY),
        "tier": top.tier if top else None,
        "message": top.patient_message if top else "",
        "alerts": [{"tier": r.tier, "title": r.title} for r in rules],
    }


class CheckInListQuery(StrictSerializer, PageQuery):
    """The patient's check-ins, newest first by ``answered_at``."""

    patient = serializers.IntegerField(required=False, min_value=1, help_text=PATIENT_FIELD_HELP)


CHECK_IN_PAGE = page_serializer(CheckInOutput, "CheckIn")
PATIENTS_ONLY = "Check-ins are answered by patients (and caregivers on their behalf)."


def _patients_only(user) -> None:
    if user.role not in (Role.PATIENT, Role.CAREGIVER):
        raise Forbidden(PATIENTS_ONLY, code="permission_denied")


def _check_in_patient(user, patient_id: int | None, scope: str):
    """The patient a check-in request is about: a patient's own; for a caregiver, ``patient``
    among those whose grant carries ``scope`` (the only one when not named)."""
    if user.role == Role.PATIENT:
        if patient_id is not None:
            raise Invalid(
                "Patients do not send this field: their records are their own.",
                code="not_allowed",
                attr="patient",
            )
        return user.patient_profile
    patients = patients_for(user, scope)
    if patient_id is not None:
        patients = patients.filter(pk=patient_id)
    found = list(patients[:2])
    if len(found) != 1:
        if patient_id is None and len(found) > 1:
            raise Invalid("This field is required.", code="required", attr="patient")
        raise Invalid("No such patient in your care.", code="does_not_exist", attr="patient")
    return found[0]


class CheckInView(APIView):
    @extend_schema(
        summary="The patient's own check-ins, newest first",
        parameters=[CheckInListQuery],
        responses={200: CHECK_IN_PAGE, **errors(403, s403=PATIENTS_ONLY)},
        operation_id="check_ins_list",
    )
    def get(self, request):
        _patients_only(request.user)
        query = CheckInListQuery().run_validation(request.query_params)
        qs = records_for(request.user, CHECK_INS)
        if request.user.role == Role.CAREGIVER:
            qs = qs.filter(patient=_check_in_patient(request.user, query.get("patient"), "read"))
        elif query.get("patient") is not None:
            _check_in_patient(request.user, query["patient"], "read")  # a 400 for patients
        if cursor := query.get("cursor"):
            after = KeysetCursor.decode(cursor, sort_type="datetime")
            qs = qs.filter(
                Q(answered_at__lt=after.value) | Q(answered_at=after.value, id__lt=after.row_id)
            )
        page_size = query.get("page_size", 50)
        rows = list(qs.order_by("-answered_at", "-id")[: page_size + 1])
        next_cursor = None
        if len(rows) > page_size:
            rows = rows[:page_size]
            next_cursor = KeysetCursor(rows[-1].answered_at, rows[-1].pk).encode()
        phi_access_record(  # a caregiver's read (a patient's own is never logged)
            user=request.user,
            patient_ids={row.patient_id for row in rows},
            action="list",
            resource="check_ins",
            request=request,
        )
        return Response(
            {
                "next": next_page_url(request, next_cursor),
                "results": CheckInOutput(rows, many=True).data,
            }
        )

    @extend_schema(
        summary="Answer a red-flag check-in; the triage comes first",
        request=CheckInInput,
        responses={
            201: OpenApiResponse(CheckInResultOutput, description="Stored and triaged."),
            200: OpenApiResponse(
                CheckInResultOutput, description="This `id` was stored before: its triage."
            ),
            **errors(403, 409, s403=PATIENTS_ONLY, s409="The `id` is another record's."),
        },
        operation_id="check_in_create",
        description="The triage comes first in the answer: when `call_emergency_services` is true the "
        "app shows `message` before anything else. A retry with the same `id` returns the stored check-in (200).",
    )
    def post(self, request):
        _patients_only(request.user)
        data = CheckInInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        record_id = values.pop("id", None)
        patient = _check_in_patient(request.user, values.pop("patient", None), "log")
        with transaction.atomic():
            check_in, created = record_create(
                CHECK_INS, actor=request.user, patient=patient, id=record_id, **values
            )
            rules = check_in_rules_hit(check_in=check_in)
        body = {"triage": _triage_body(rules), "check_in": CheckInOutput(check_in).data}
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class AlertCauseOutput(serializers.Serializer):
    rule_key = serializers.CharField()
    tier = serializers.ChoiceField(choices=Tier.choices)
    title = serializers.CharField()
    detail = serializers.CharField(allow_blank=True, help_text="e.g. `temperature_c = 38.6`")


class AlertOutput(serializers.ModelSerializer):
    patient_name = serializers.CharField(source="patient.user.full_name")
    causes = AlertCauseOutput(
        many=True,
        read_only=True,
        help_text="every red flag of this alert, most urgent first; `tier`, `rule_key` and "
        "`acknowledge_by` are the first one's",
    )

    class Meta:
        model = Alert
        fields = [
            "id",
            "patient",
            "patient_name",
            "tier",
            "title",
            "detail",
            "causes",
            "rule_key",
            "source_table",
            "source_id",
            "status",
            "opened_at",
            "acknowledge_by",
            "acknowledged_at",
            "acknowledged_by",
            "resolved_at",
            "resolved_by",
            "resolution_note",
            "escalated_at",
        ]


class ResolveInput(StrictSerializer):
    note = serializers.CharField(max_length=2000, help_text="what was done or decided (required)")


def _alerts_for(user):
    if user.role in (Role.PATIENT, Role.CAREGIVER):
        raise Forbidden("Alerts are for the care team.", code="permission_denied")
    return Alert.objects.filter(patient__in=patients_for(user).values("pk")).select_related(
        "patient__user"
    )


def _alert_get(user, alert_id) -> Alert:
    alert = _alerts_for(user).filter(pk=alert_id).first()
    if alert is None:
        raise NotFound("Not found.", code="not_found")
    return alert


def _alert_answer(request, alert: Alert, *, action: str) -> Response:
    """The alert after a lifecycle step: it shows the patient's data, so the read is logged."""
    phi_access_record(
        user=request.user,
        patient_ids=[alert.patient_id],
        action=action,
        resource="alerts",
        request=request,
        object_id=alert.pk,
    )
    return Response(AlertOutput(alert).data)


class AlertListQuery(StrictSerializer, PageQuery):
    status = serializers.ChoiceField(
        choices=AlertStatus.choices,
        required=False,
        help_text="Only alerts in this state; without it, the unresolved ones.",
    )


ALERT_PAGE = page_serializer(AlertOutput, "Alert")
# Most urgent first: the tiers in the order ``Tier`` lists them (emergency first).
TIER_RANK = Case(
    *(When(tier=tier, then=Value(rank)) for rank, tier in enumerate(Tier.values)),
    output_field=IntegerField(),
)


def _alert_position(values: list) -> tuple:
    rank, opened_at, alert_id = values
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (rank, alert_id)):
        raise TypeError(values)
    if not (0 <= rank < len(Tier.values) and 0 < alert_id < 2**63):  # never a database error
        raise ValueError(values)
    opened = datetime.fromisoformat(opened_at)
    if opened.tzinfo is None:
        raise ValueError(opened_at)
    return rank, opened, alert_id


def alerts_page(*, user, state: str | None, cursor: str | None, page_size: int):
    """One page of the caller's patients' alerts, most urgent first, then oldest first (the
    order the care team works them), then by id; a keyset over those three. Returns the
    alerts and the next page's cursor (``None`` on the last page)."""
    qs = _alerts_for(user).annotate(tier_rank=TIER_RANK)
    if state:
        qs = qs.filter(status=state)
    else:
        qs = qs.exclude(status=AlertStatus.RESOLVED)
    if cursor:
        rank, opened, alert_id = position_decode(cursor, parse=_alert_position)
        qs = qs.filter(
            Q(tier_rank__gt=rank)
            | Q(tier_rank=rank, opened_at__gt=opened)
            | Q(tier_rank=rank, opened_at=opened, pk__gt=alert_id)
        )
    alerts = list(qs.order_by("tier_rank", "opened_at", "pk")[: page_size + 1])
    if len(alerts) <= page_size:
        return alerts, None
    alerts = alerts[:page_size]
    last = alerts[-1]
    return alerts, position_encode([last.tier_rank, last.opened_at.isoformat(), last.pk])


class AlertListView(APIView):
    @extend_schema(
        summary="The care team's alerts, most urgent first",
        parameters=[AlertListQuery],
        responses={200: ALERT_PAGE, **errors(403, s403="Alerts are for the care team.")},
        operation_id="alerts_list",
        description="Unresolved alerts of the caller's patients, most urgent and oldest first; "
        "`?status=resolved` for the closed ones. Paged like every list (`next`).",
    )
    def get(self, request):
        query = AlertListQuery().run_validation(request.query_params)
        alerts, next_cursor = alerts_page(
            user=request.user,
            state=query.get("status"),
            cursor=query.get("cursor"),
            page_size=query.get("page_size", 50),
        )
        phi_access_record(
            user=request.user,
            patient_ids={a.patient_id for a in alerts},
            action="list",
            resource="alerts",
            request=request,
        )
        return Response(
            {
                "next": next_page_url(request, next_cursor),
                "results": AlertOutput(alerts, many=True).data,
            }
        )


ALERT_STEP_ERRORS = errors(
    400,
    403,
    s400="`invalid_state`: the alert is past this step.",
    s403="Alerts are for the care team.",
)


class AlertAcknowledgeView(APIView):
    @extend_schema(
        summary="Acknowledge an alert",
        request=None,
        responses={200: AlertOutput, **ALERT_STEP_ERRORS},
        operation_id="alert_acknowledge",
    )
    def post(self, request, alert_id: int):
        alert = alert_acknowledge(actor=request.user, alert=_alert_get(request.user, alert_id))
        return _alert_answer(request, alert, action="acknowledge")


class AlertResolveView(APIView):
    @extend_schema(
        summary="Resolve an alert",
        request=ResolveInput,
        responses={200: AlertOutput, **ALERT_STEP_ERRORS},
        operation_id="alert_resolve",
    )
    def post(self, request, alert_id: int):
        data = ResolveInput(data=request.data)
        data.is_valid(raise_exception=True)
        alert = alert_resolve(
            actor=request.user,
            alert=_alert_get(request.user, alert_id),
            note=data.validated_data["note"],
        )
        return _alert_answer(request, alert, action="resolve")
