"""Every REST collection of the clinical record, one route each (the prefix is the table's wire
name with ``-``: ``PainLogViewSet.api.prefix``; tests/recovery/test_registry.py holds them equal)."""

from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("surgeries", views.SurgeryViewSet, basename="surgeries")
router.register("hospital-stays", views.HospitalStayViewSet, basename="hospital-stays")
router.register("medications", views.MedicationViewSet, basename="medications")
router.register("pain-logs", views.PainLogViewSet, basename="pain-logs")
router.register("daily-steps", views.DailyStepsViewSet, basename="daily-steps")
router.register("pt-sessions", views.PTSessionViewSet, basename="pt-sessions")
router.register("restrictions", views.RestrictionViewSet, basename="restrictions")
router.register("appointments", views.AppointmentViewSet, basename="appointments")
router.register("milestones", views.MilestoneViewSet, basename="milestones")
router.register("outcome-scores", views.OutcomeScoreViewSet, basename="outcome-scores")
router.register("prep-items", views.PrepItemViewSet, basename="prep-items")
router.register("imaging-studies", views.ImagingStudyViewSet, basename="imaging-studies")
router.register("complications", views.ComplicationViewSet, basename="complications")

urlpatterns = router.urls
