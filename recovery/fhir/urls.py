from django.urls import path

from . import views

urlpatterns = [
    path(
        "patients/<int:patient_id>/fhir/",
        views.PatientFhirExportView.as_view(),
        name="patient-fhir",
    ),
    path("me/fhir/", views.MeFhirExportView.as_view(), name="me-fhir"),
    path("me/access-log/fhir/", views.MeAccessLogFhirView.as_view(), name="me-access-log-fhir"),
]
