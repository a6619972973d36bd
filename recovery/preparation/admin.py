"""Admin pages of the preparation checklist, imaging studies and complications, scoped like every
clinical page and written through the services."""

from django.contrib import admin
from django.utils import timezone

from recovery.preparation.services import complication_resolve
from recovery.record.admin import PatientFilter, RecordAdmin

from .models import Complication, ImagingStudy, PrepItem


@admin.register(PrepItem)
class PrepItemAdmin(RecordAdmin):
    list_display = ["due_on", "patient_name", "kind", "owner", "status", "completed_on"]
    list_filter = [PatientFilter, "status", "owner", "kind"]
    ordering = ["due_on"]
    list_select_related = ["patient__user", "surgery"]


@admin.register(ImagingStudy)
class ImagingStudyAdmin(RecordAdmin):
    list_display = [
        "performed_on",
        "patient_name",
        "modality",
        "levels",
        "purpose",
        "fusion_status",
        "hardware_status",
    ]
    list_filter = [PatientFilter, "modality", "purpose", "fusion_status", "hardware_status"]
    ordering = ["-performed_on"]


@admin.register(Complication)
class ComplicationAdmin(RecordAdmin):
    list_display = ["noticed_on", "patient_name", "kind", "severity", "resolved_on"]
    list_filter = [PatientFilter, "kind", "severity", ("resolved_on", admin.EmptyFieldListFilter)]
    ordering = ["-noticed_on"]
    actions = ["delete_through_services", "resolve_today"]

    @admin.action(description="Mark selected complications resolved today", permissions=["change"])
    def resolve_today(self, request, queryset):
        self.run_service_on(
            request,
            queryset,
            "Resolved",
            lambda c: complication_resolve(
                actor=request.user,
                complication=c,
                resolved_on=timezone.localdate(timezone=c.patient.tz),
            ),
        )
