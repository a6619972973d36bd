from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.views import APIView

from accounts.audit import phi_access_record
from accounts.selectors import patients_for
from config.errors import Forbidden, NotFound

from .bundle import bundle_stream

FHIR_JSON = "application/fhir+json"
BUNDLE = OpenApiResponse(OpenApiTypes.OBJECT, description="A FHIR R4 Bundle of type collection.")


def _stream(patient) -> StreamingHttpResponse:
    response = StreamingHttpResponse(bundle_stream(patient=patient), content_type=FHIR_JSON)
    response["Content-Disposition"] = f'inline; filename="realign-patient-{patient.pk}.fhir.json"'
    return response


class PatientFhirExportView(APIView):
    """The whole recovery of one patient in the caller's scope, as a FHIR R4 Bundle."""

    @extend_schema(responses={200: BUNDLE}, operation_id="patient_fhir_export")
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

    @extend_schema(responses={200: BUNDLE}, operation_id="me_fhir_export")
    def get(self, request):
        if not request.user.is_patient:
            raise Forbidden(
                "Only patients have a record of their own.",
                code="permission_denied",
            )
        return _stream(request.user.patient_profile)
