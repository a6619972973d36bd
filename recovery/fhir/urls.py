from django.urls import path

from . import export_views, views

urlpatterns = [
    path(
        "patients/<int:patient_id>/fhir/",
        views.PatientFhirExportView.as_view(),
        name="patient-fhir",
    ),
    path("me/fhir/", views.MeFhirExportView.as_view(), name="me-fhir"),
    path("me/exports/", export_views.PatientExportListView.as_view(), name="me-exports"),
    path(
        "me/exports/<uuid:export_id>/",
        export_views.PatientExportDetailView.as_view(),
        name="me-export",
    ),
    path(
        "me/exports/<uuid:export_id>/download/",
        export_views.PatientExportDownloadView.as_view(),
        name="me-export-download",
    ),
    path("me/access-log/fhir/", views.MeAccessLogFhirView.as_view(), name="me-access-log-fhir"),
    # FHIR Bulk Data Access (base /api/v1/fhir/): kick-off, status, files. Path parameters are
    # strings checked by the views, so every 404 is an OperationOutcome.
    path("fhir/$export", views.SystemExportView.as_view(), name="fhir-bulk-system"),
    path(
        "fhir/Group/<str:clinic_id>/$export",
        views.GroupExportView.as_view(),
        name="fhir-bulk-group",
    ),
    path("fhir/Patient/$export", views.PatientsExportView.as_view(), name="fhir-bulk-patients"),
    path(
        "fhir/Patient/<str:patient_id>/$export",
        views.PatientExportView.as_view(),
        name="fhir-bulk-patient",
    ),
    path("fhir/bulk-status/<str:job_id>", views.BulkStatusView.as_view(), name="fhir-bulk-status"),
    path(
        "fhir/bulk-files/<str:job_id>/<str:file_name>",
        views.BulkFileView.as_view(),
        name="fhir-bulk-file",
    ),
]
