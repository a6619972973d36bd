from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.views import APIView

from accounts.audit import phi_access_record
from accounts.selectors import patients_for
from config.api.openapi import errors
from config.errors import Forbidden, NotFound

from .bundle import audit_bundle_stream, bundle_stream

FHIR_JSON = "application/fhir+json"
# Served as application/fhir+json (FHIR's own media type), and declared so in the schema.
BUNDLE = {
    (200, FHIR_JSON): OpenApiResponse(
        OpenApiTypes.OBJECT, description="A FHIR R4 Bundle of type collection."
    )
}


class _FhirJson(BaseRenderer):
    """Only what content negotiation weighs: the Bundle itself is streamed, never rendered."""

    media_type = FHIR_JSON
    format = "fhir"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        raise NotImplementedError("the Bundle is streamed")


class FhirNegotiation(DefaultContentNegotiation):
    """The Bundle is served as ``application/fhir+json`` to an ``Accept`` of
    ``application/fhir+json``, ``application/json`` (FHIR JSON is JSON), a wildcard or none;
    anything else is a 406. Errors stay ``application/json`` in the one error shape
    (docs/api.md), so the renderer chosen is always the view's JSON renderer: the FHIR media
    type only takes part in the question whether the caller accepts the answer."""

    def select_renderer(self, request, renderers, format_suffix=None):
        super().select_renderer(request, [_FhirJson(), *renderers], format_suffix)  # or a 406
        renderer = renderers[0]
        return renderer, renderer.media_type


def _stream(patient, stream=bundle_stream, name: str = "patient") -> StreamingHttpResponse:
    response = StreamingHttpResponse(stream(patient=patient), content_type=FHIR_JSON)
    response["Content-Disposition"] = f'inline; filename="realign-{name}-{patient.pk}.fhir.json"'
    return response


def _own_patient(request):
    if not request.user.is_patient:
        raise Forbidden(
            "Only patients have a record of their own.",
            code="permission_denied",
        )
    return request.user.patient_profile


class PatientFhirExportView(APIView):
    """The whole recovery of one patient in the caller's scope, as a FHIR R4 Bundle."""

    content_negotiation_class = FhirNegotiation

    @extend_schema(
        summary="A patient's recovery as a FHIR Bundle (care team)",
        responses=BUNDLE,
        operation_id="patient_fhir_export",
    )
    def get(self, request, patient_id: int):
        patient = patients_for(request.user).select_related("user").filter(pk=patient_id).first()
        if patient is None:
            raise NotFound("Not found.", code="not_found")
        phi_access_record(
            user=request.user,
            patient_ids=[patient.pk],
            action="export",
            resource="fhir",
            request=request,
        )
        return _stream(patient)


class MeFhirExportView(APIView):
    """The signed-in patient's own recovery as a FHIR R4 Bundle."""

    content_negotiation_class = FhirNegotiation

    @extend_schema(
        summary="The patient's own recovery as a FHIR Bundle",
        responses={**BUNDLE, **errors(403, s403="Only patients have a record of their own.")},
        operation_id="me_fhir_export",
    )
    def get(self, request):
        return _stream(_own_patient(request))


class MeAccessLogFhirView(APIView):
    """Who looked at the signed-in patient's record, as FHIR AuditEvents (IHE BALP) in a
    Bundle with the Patient."""

    content_negotiation_class = FhirNegotiation

    @extend_schema(
        summary="Who looked at my record, as FHIR AuditEvents",
        responses={
            (200, FHIR_JSON): OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="A FHIR R4 Bundle (collection): the Patient and one AuditEvent per read.",
            ),
            **errors(403, s403="Only patients have a record of their own."),
        },
        operation_id="me_access_log_fhir",
    )
    def get(self, request):
        return _stream(_own_patient(request), audit_bundle_stream, "access-log")
