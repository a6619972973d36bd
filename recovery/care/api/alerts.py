"""Red-flag check-ins (``POST /api/v1/check-ins/``) and the care team's alerts."""

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.audit import phi_access_record
from accounts.models import Role
from accounts.selectors import patients_for
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

    def get_fields(self):
        fields = super().get_fields()
        for name in CHECK_IN_FIELDS:
            if name not in fields:
                fields[name] = serializers.BooleanField(required=False, allow_null=True)
        return fields


class CheckInOutput(serializers.ModelSerializer):
    class Meta:
        model = CheckIn
        fields = ["id", *CHECK_IN_FIELDS, "created_at", "updated_at"]


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


class CheckInView(APIView):
    @extend_schema(
        request=CheckInInput,
        responses={201: CheckInResultOutput, 200: CheckInResultOutput},
        operation_id="check_in_create",
        description="The triage comes first in the answer: when `call_emergency_services` is true the "
        "app shows `message` before anything else. A retry with the same `id` returns the stored check-in (200).",
    )
    def post(self, request):
        if request.user.role != Role.PATIENT:
            raise Forbidden(
                "Check-ins are answered by patients.",
                code="permission_denied",
            )
        data = CheckInInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        record_id = values.pop("id", None)
        patient = request.user.patient_profile
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
    if user.role == Role.PATIENT:
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


class AlertListView(APIView):
    @extend_schema(
        responses={200: AlertOutput(many=True)},
        operation_id="alerts_list",
        description="Unresolved alerts of the caller's patients, most urgent and oldest first; "
        "`?status=resolved` for the closed ones.",
    )
    def get(self, request):
        wanted = request.query_params.get("status")
        qs = _alerts_for(request.user)
        if wanted in AlertStatus.values:
            qs = qs.filter(status=wanted)
        elif wanted:
            raise Invalid(f"Unknown status {wanted!r}.", attr="status")
        else:
            qs = qs.exclude(status=AlertStatus.RESOLVED)
        alerts = list(qs.order_by("opened_at")[:200])
        alerts.sort(key=lambda a: (list(Tier.values).index(a.tier), a.opened_at))
        phi_access_record(
            user=request.user,
            patient_ids={a.patient_id for a in alerts},
            action="list",
            resource="alerts",
            request=request,
        )
        return Response(AlertOutput(alerts, many=True).data)


class AlertAcknowledgeView(APIView):
    @extend_schema(request=None, responses={200: AlertOutput}, operation_id="alert_acknowledge")
    def post(self, request, alert_id: int):
        alert = alert_acknowledge(actor=request.user, alert=_alert_get(request.user, alert_id))
        return _alert_answer(request, alert, action="acknowledge")


class AlertResolveView(APIView):
    @extend_schema(request=ResolveInput, responses={200: AlertOutput}, operation_id="alert_resolve")
    def post(self, request, alert_id: int):
        data = ResolveInput(data=request.data)
        data.is_valid(raise_exception=True)
        alert = alert_resolve(
            actor=request.user,
            alert=_alert_get(request.user, alert_id),
            note=data.validated_data["note"],
        )
        return _alert_answer(request, alert, action="resolve")
