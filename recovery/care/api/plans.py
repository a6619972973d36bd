"""``GET /api/v1/me/plan/`` (the patient) and ``GET /api/v1/patients/{id}/plan/`` (care team)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.audit import phi_access_record
from accounts.selectors import patients_for
from config.api.openapi import errors
from config.errors import Forbidden, NotFound

from ..selectors import plan_for_patient


class SkippedOutput(serializers.Serializer):
    on = serializers.DateField(allow_null=True, help_text="the day it was planned for")
    reason = serializers.ChoiceField(
        choices=["already_present", "not_applicable"],
        help_text="already_present: the patient already had such a record in that window; "
        "not_applicable: its date had passed when the protocol was applied",
    )


class PlanItemOutput(serializers.Serializer):
    item_type = serializers.CharField()
    description = serializers.CharField()
    records = serializers.ListField(
        child=serializers.CharField(), help_text="ids of the generated records"
    )
    skipped = SkippedOutput(many=True, help_text="planned records that were not created")


class PlanOutput(serializers.Serializer):
    protocol = serializers.CharField()
    surgery = serializers.CharField()
    applied_at = serializers.DateTimeField()
    anchor_on = serializers.DateField(help_text="the surgery date the items were computed from")
    items = PlanItemOutput(many=True)


class PatientPlanView(APIView):
    @extend_schema(
        summary="A patient's care plan (care team)",
        responses={200: PlanOutput(many=True)},
        operation_id="patient_plan",
    )
    def get(self, request, patient_id: int):
        patient = patients_for(request.user, "plan").filter(pk=patient_id).first()
        if patient is None:
            raise NotFound("Not found.", code="not_found")
        phi_access_record(
            user=request.user,
            patient_ids=[patient.pk],
            action="retrieve",
            resource="plan",
            request=request,
        )
        return Response(PlanOutput(plan_for_patient(patient=patient), many=True).data)


class MyPlanView(APIView):
    @extend_schema(
        summary="The patient's own care plan",
        responses={200: PlanOutput(many=True), **errors(403, s403="Only patients have a plan.")},
        operation_id="me_plan",
    )
    def get(self, request):
        if not request.user.is_patient:
            raise Forbidden(
                "Only patients have a plan of their own.",
                code="permission_denied",
            )
        return Response(
            PlanOutput(plan_for_patient(patient=request.user.patient_profile), many=True).data
        )
