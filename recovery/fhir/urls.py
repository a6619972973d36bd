from django.urls import path

from . import views

urlpatterns = [
    path(
        "patients/<int:patient_id>/fhir/",
        views.PatientFhirExportView.as_view(),
        name="patient-fhir",
    ),
    path("me/fhir/", views.MeFhirExportView.as_view(), name="me-fhir"),
    # FHIR Bulk Data Access (base /api/v1/fhir/): kick-off, status, files.
    path("fhir/$export", views.SystemExportView.as_view(), name="fhir-bulk-system"),
    path(
        "fhir/Group/<int:clinic_id>/$export",
        views.GroupExportView.as_view(),
        name="fhir-bulk-group",
    ),
    path("fhir/Patient/$export", views.PatientsExportView.as_view(), name="fhir-bulk-patients"),
    path(
        "fhir/Patient/<str:patient_id>/$export",
        views.PatientExportView.as_view(),
        name="fhir-bulk-patient",
    ),
    path("fhir/bulk-status/<uuid:job_id>", views.BulkStatusView.as_view(), name="fhir-bulk-status"),
    path(
        "fhir/bulk-files/<uuid:job_id>/<str:file_name>",
        views.BulkFileView.as_view(),
        name="fhir-bulk-file",
    ),
]
