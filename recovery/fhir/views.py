import uuid

import orjson
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils.http import http_date
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions as drf_exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.views import APIView

from accounts.audit import phi_access_record
from accounts.selectors import patients_for
from config.api.errors import domain_status
from config.api.openapi import errors
from config.errors import DomainError, Forbidden, Invalid, NotFound

from .bundle import RESOURCE_TYPES, audit_bundle_stream, bundle_stream
from .models import BulkExportJob, ExportLevel, ExportStatus
from .selectors import bulk_export_for
from .services import (
    bulk_export_cancel,
    bulk_export_check_caller,
    bulk_export_downloaded,
    bulk_export_parameters,
    bulk_export_start,
    is_row_id,
    storage,
)

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


# --- FHIR Bulk Data export (docs/outcomes-and-fhir.md, "Bulk Data export") --------------------

NDJSON = "application/fhir+ndjson"
RETRY_AFTER_SECONDS = 5
ISSUE_CODE = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    410: "deleted",
    429: "throttled",
    500: "exception",
}


def operation_outcome(status: int, detail: str, code: str = "") -> HttpResponse:
    """A FHIR OperationOutcome: the error body of every Bulk Data endpoint (the IG's)."""
    issue = {
        "severity": "error" if status < 500 else "fatal",
        "code": ISSUE_CODE.get(status, "processing"),
        "diagnostics": detail,
    }
    if code:
        issue["details"] = {"coding": [{"system": ERROR_CODE_SYSTEM, "code": code}], "text": detail}
    return HttpResponse(
        orjson.dumps({"resourceType": "OperationOutcome", "issue": [issue]}),
        status=status,
        content_type=FHIR_JSON,
    )


ERROR_CODE_SYSTEM = "https://realign.app/fhir/error-code"


class FhirBulkView(APIView):
    """Bearer-token views that answer FHIR: errors as OperationOutcome (not the API's own
    shape), and no content negotiation of DRF's (the kick-off checks ``Accept`` itself, as the
    IG asks: a 400)."""

    def perform_content_negotiation(self, request, force=False):
        return (JSONRenderer(), "application/json")

    def handle_exception(self, exc):
        if isinstance(exc, DomainError):
            status = domain_status(exc)
            response = operation_outcome(status, exc.detail, exc.code)
            if "retry_after" in exc.extra:
                response["Retry-After"] = str(exc.extra["retry_after"])
            return response
        if isinstance(exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed):
            response = operation_outcome(401, str(exc.detail), "not_authenticated")
            response["WWW-Authenticate"] = 'Bearer realm="api"'
            return response
        if isinstance(exc, drf_exceptions.PermissionDenied):
            return operation_outcome(403, str(exc.detail), "permission_denied")
        if isinstance(exc, Http404 | drf_exceptions.NotFound):
            return operation_outcome(404, "Not found.", "not_found")
        if isinstance(exc, drf_exceptions.APIException):
            return operation_outcome(exc.status_code, str(exc.detail), "error")
        return super().handle_exception(exc)


def _media_types(header: str) -> set[str]:
    return {part.split(";", 1)[0].strip().lower() for part in header.split(",") if part.strip()}


def _preferences(header: str) -> set[str]:
    return {part.strip().lower().replace(" ", "") for part in header.split(",") if part.strip()}


KICKOFF_PARAMETERS = [
    OpenApiParameter(
        "Accept",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        required=True,
        description="application/fhir+json",
    ),
    OpenApiParameter(
        "Prefer",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        required=True,
        description="respond-async (optionally `, handling=lenient`: unknown types ignored)",
    ),
    OpenApiParameter(
        "_type",
        OpenApiTypes.STR,
        description="Comma-separated resource types (default: all): " + ", ".join(RESOURCE_TYPES),
    ),
    OpenApiParameter(
        "_since",
        OpenApiTypes.DATETIME,
        description="Only resources changed after this instant (e.g. 2026-01-01T00:00:00Z).",
    ),
    OpenApiParameter(
        "_outputFormat", OpenApiTypes.STR, description="application/fhir+ndjson (the default)"
    ),
    OpenApiParameter(
        "Content-Location",
        OpenApiTypes.URI,
        OpenApiParameter.HEADER,
        response=[202],
        description="The status URL to poll.",
    ),
]
OUTCOME = OpenApiResponse(OpenApiTypes.OBJECT, description="A FHIR OperationOutcome.")


def _outcomes(*statuses: int) -> dict:
    return {(status, FHIR_JSON): OUTCOME for status in statuses}


KICKOFF_RESPONSES = {
    (202, FHIR_JSON): OpenApiResponse(
        OpenApiTypes.OBJECT, description="Accepted: poll the Content-Location URL."
    ),
    **_outcomes(400, 401, 403, 404, 429),
}


class _KickOff(FhirBulkView):
    level = ExportLevel.SYSTEM

    def kick_off(self, request, **scope):
        bulk_export_check_caller(user=request.user)  # who asks first, then how
        if FHIR_JSON not in _media_types(request.headers.get("Accept", "")):
            raise Invalid("Send Accept: application/fhir+json.", code="invalid_accept")
        preferences = _preferences(request.headers.get("Prefer", ""))
        if "respond-async" not in preferences:
            raise Invalid("Send Prefer: respond-async.", code="invalid_prefer")
        types, since = bulk_export_parameters(
            query={name: request.GET.getlist(name) for name in request.GET},
            lenient="handling=lenient" in preferences,
        )
        job = bulk_export_start(
            user=request.user,
            level=self.level,
            request_url=request.build_absolute_uri(),
            types=types,
            since=since,
            **scope,
        )
        response = operation_outcome_info("Export started.", status=202)
        response["Content-Location"] = request.build_absolute_uri(
            reverse("fhir-bulk-status", args=[job.pk])
        )
        return response


def operation_outcome_info(text: str, status: int) -> HttpResponse:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "information", "code": "informational", "diagnostics": text}],
    }
    return HttpResponse(orjson.dumps(body), status=status, content_type=FHIR_JSON)


class SystemExportView(_KickOff):
    """``[base]/$export``: every patient of the caller's clinic."""

    @extend_schema(
        summary="FHIR Bulk Data: export the clinic (system level)",
        parameters=KICKOFF_PARAMETERS,
        responses=KICKOFF_RESPONSES,
        operation_id="fhir_bulk_export_system",
    )
    def get(self, request):
        return self.kick_off(request)


class GroupExportView(_KickOff):
    """``[base]/Group/{clinic id}/$export``: every patient of that clinic (yours)."""

    level = ExportLevel.GROUP

    @extend_schema(
        summary="FHIR Bulk Data: export a clinic's patients (group level)",
        parameters=KICKOFF_PARAMETERS,
        responses=KICKOFF_RESPONSES,
        operation_id="fhir_bulk_export_group",
    )
    def get(self, request, clinic_id: str):
        if not is_row_id(clinic_id):
            raise NotFound("No such group.", code="not_found")
        return self.kick_off(request, clinic_id=int(clinic_id))


class PatientsExportView(_KickOff):
    """``[base]/Patient/$export``: every patient of the caller's clinic."""

    level = ExportLevel.PATIENT

    @extend_schema(
        summary="FHIR Bulk Data: export every patient (patient level)",
        parameters=KICKOFF_PARAMETERS,
        responses=KICKOFF_RESPONSES,
        operation_id="fhir_bulk_export_patients",
    )
    def get(self, request):
        return self.kick_off(request)


class PatientExportView(_KickOff):
    """``[base]/Patient/{id}/$export``: one patient (the API's patient id or the FHIR id)."""

    level = ExportLevel.PATIENT

    @extend_schema(
        summary="FHIR Bulk Data: export one patient",
        parameters=KICKOFF_PARAMETERS,
        responses=KICKOFF_RESPONSES,
        operation_id="fhir_bulk_export_patient",
    )
    def get(self, request, patient_id: str):
        return self.kick_off(request, patient_key=patient_id)


def _job_or_404(request, job_id: str) -> BulkExportJob:
    try:
        job_id = uuid.UUID(job_id)
    except ValueError:
        raise NotFound("No such export.", code="not_found") from None
    job = bulk_export_for(request.user, job_id)
    if job is None or job.status == ExportStatus.CANCELLED:
        raise NotFound("No such export.", code="not_found")
    return job


def _gone() -> HttpResponse:
    return operation_outcome(
        410, "This export has expired and its files were deleted.", "export_expired"
    )


class BulkStatusView(FhirBulkView):
    """The status URL of an export: poll it (GET), cancel it (DELETE)."""

    @extend_schema(
        summary="FHIR Bulk Data: the status of an export",
        parameters=[
            OpenApiParameter(
                "X-Progress", OpenApiTypes.STR, OpenApiParameter.HEADER, response=[202]
            ),
            OpenApiParameter(
                "Retry-After", OpenApiTypes.STR, OpenApiParameter.HEADER, response=[202]
            ),
        ],
        responses={
            (200, "application/json"): OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="Complete: the manifest (transactionTime, request, "
                "requiresAccessToken, output [{type, url, count}], error []).",
            ),
            (202, FHIR_JSON): OpenApiResponse(
                OpenApiTypes.OBJECT, description="In progress: X-Progress, Retry-After."
            ),
            **_outcomes(401, 404, 410, 500),
        },
        operation_id="fhir_bulk_export_status",
    )
    def get(self, request, job_id):
        job = _job_or_404(request, job_id)
        if job.status in (ExportStatus.ACCEPTED, ExportStatus.IN_PROGRESS):
            response = operation_outcome_info("In progress.", status=202)
            if job.status == ExportStatus.ACCEPTED:
                response["X-Progress"] = "queued"
            else:
                share = 100 * job.patients_done // job.patients_total if job.patients_total else 0
                response["X-Progress"] = (
                    f"{share}% ({job.patients_done} of {job.patients_total} patients)"
                )
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        if job.status == ExportStatus.FAILED:
            return operation_outcome(500, job.error or "The export failed.", "export_failed")
        if job.is_expired():
            return _gone()
        manifest = {
            "transactionTime": job.transaction_time.isoformat(),
            "request": job.request_url,
            "requiresAccessToken": True,
            "output": [
                {
                    "type": entry["type"],
                    "url": request.build_absolute_uri(
                        reverse("fhir-bulk-file", args=[job.pk, f"{entry['type']}.ndjson"])
                    ),
                    "count": entry["count"],
                }
                for entry in job.output
            ],
            "error": [],
        }
        response = HttpResponse(orjson.dumps(manifest), content_type="application/json")
        response["Expires"] = http_date(job.expires_at.timestamp())
        return response

    @extend_schema(
        summary="FHIR Bulk Data: cancel an export and delete its files",
        responses={
            (202, FHIR_JSON): OpenApiResponse(OpenApiTypes.OBJECT, description="Cancelled."),
            **_outcomes(401, 404),
        },
        operation_id="fhir_bulk_export_cancel",
    )
    def delete(self, request, job_id):
        bulk_export_cancel(job=_job_or_404(request, job_id))
        return operation_outcome_info("Export cancelled; its files are deleted.", status=202)


class BulkFileView(FhirBulkView):
    """One NDJSON file of a completed export, with the same bearer token, until it expires."""

    @extend_schema(
        summary="FHIR Bulk Data: download one NDJSON file of an export",
        responses={
            (200, NDJSON): OpenApiResponse(
                OpenApiTypes.STR, description="One resource of the type per line."
            ),
            **_outcomes(401, 404, 410),
        },
        operation_id="fhir_bulk_export_file",
    )
    def get(self, request, job_id, file_name: str):
        job = _job_or_404(request, job_id)
        if job.status != ExportStatus.COMPLETED:
            raise NotFound("No such file.", code="not_found")
        if job.is_expired() or job.files_deleted_at is not None:
            return _gone()
        resource_type = file_name.removesuffix(".ndjson")
        entry = next((e for e in job.output if e["type"] == resource_type), None)
        if entry is None or not file_name.endswith(".ndjson"):
            raise NotFound("No such file.", code="not_found")
        try:
            handle = storage().open(entry["name"], "rb")
        except FileNotFoundError:
            return _gone()
        bulk_export_downloaded(
            job=job, user=request.user, resource_type=resource_type, request=request
        )
        response = FileResponse(handle, content_type=NDJSON)
        response["Expires"] = http_date(job.expires_at.timestamp())
        return response
