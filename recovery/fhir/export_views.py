"""Downloading my record (``recovery.fhir.patient_export``): ask, follow, download."""

from django.http import FileResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.openapi import errors
from config.errors import Conflict, Forbidden, Gone, NotFound

from .models import PatientExport, PatientExportStatus
from .patient_export import patient_export_request, storage

ONLY_PATIENTS = "Only patients have a record of their own."


class PatientExportOutput(serializers.ModelSerializer):
    class Meta:
        model = PatientExport
        fields = [
            "id",
            "status",
            "progress",
            "byte_size",
            "created_at",
            "finished_at",
            "expires_at",
        ]


def _own_patient_id(request) -> int:
    if not request.user.is_patient:
        raise Forbidden(ONLY_PATIENTS, code="permission_denied")
    return request.user.patient_profile.pk


def _own_export(request, export_id) -> PatientExport:
    export = PatientExport.objects.filter(pk=export_id, patient_id=_own_patient_id(request)).first()
    if export is None:
        raise NotFound("No such export.", code="not_found")
    return export


class PatientExportListView(APIView):
    @extend_schema(
        summary="Ask for a download of my whole record",
        request=None,
        responses={
            202: PatientExportOutput,
            200: PatientExportOutput,
            **errors(403, s403=ONLY_PATIENTS),
        },
        operation_id="me_export_create",
    )
    def post(self, request):
        _own_patient_id(request)
        export, created = patient_export_request(patient=request.user.patient_profile)
        code = status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK
        return Response(PatientExportOutput(export).data, status=code)


class PatientExportDetailView(APIView):
    @extend_schema(
        summary="Where my download stands",
        responses={200: PatientExportOutput, **errors(403, 404, s403=ONLY_PATIENTS)},
        operation_id="me_export_retrieve",
    )
    def get(self, request, export_id):
        return Response(PatientExportOutput(_own_export(request, export_id)).data)


class PatientExportDownloadView(APIView):
    @extend_schema(
        summary="Download my record (a zip: the FHIR Bundle and a CSV per table)",
        responses={
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY),
            **errors(403, 404, 409, 410, s403=ONLY_PATIENTS),
        },
        operation_id="me_export_download",
    )
    def get(self, request, export_id):
        export = _own_export(request, export_id)
        if export.status == PatientExportStatus.EXPIRED or (
            export.expires_at and export.expires_at <= timezone.now()
        ):
            raise Gone("This download has expired: ask for a new one.", code="expired")
        if export.status != PatientExportStatus.READY:
            raise Conflict(
                f"The download is not ready yet ({export.status}, {export.progress}%).",
                code="not_ready",
            )
        response = FileResponse(
            storage().open(export.file_name, "rb"),
            as_attachment=True,
            filename=f"realign-record-{timezone.localdate():%Y-%m-%d}.zip",
            content_type="application/zip",
        )
        return response
