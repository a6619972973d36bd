"""The care endpoints: the care plan, check-ins and alerts."""

from django.urls import path

from .alerts import AlertAcknowledgeView, AlertListView, AlertResolveView, CheckInView
from .plans import MyPlanView, PatientPlanView

urlpatterns = [
    path("patients/<int:patient_id>/plan/", PatientPlanView.as_view(), name="patient-plan"),
    path("me/plan/", MyPlanView.as_view(), name="me-plan"),
    path("check-ins/", CheckInView.as_view(), name="check-ins"),
    path("alerts/", AlertListView.as_view(), name="alerts"),
    path(
        "alerts/<int:alert_id>/acknowledge/",
        AlertAcknowledgeView.as_view(),
        name="alert-acknowledge",
    ),
    path("alerts/<int:alert_id>/resolve/", AlertResolveView.as_view(), name="alert-resolve"),
]
