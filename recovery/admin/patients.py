"""The accounts patient page, with the recovery timeline: its URL, a link to it, open alerts and
outcome changes in the list (``accounts`` may not import ``recovery``, so they are added here)."""

from django.contrib import admin
from django.db.models import Count, Q
from django.urls import path, reverse
from django.utils.html import format_html

from accounts.admin import PatientProfileAdmin
from accounts.models import PatientProfile
from recovery.care.models import AlertStatus
from recovery.outcomes.selectors import outcome_changes_for

from .views import patient_timeline_view


class PatientWithTimelineAdmin(PatientProfileAdmin):
    """The accounts patient page, plus a link to and the URL of the recovery timeline
    (``accounts`` may not import ``recovery``, so the timeline is added from here)."""

    list_display = [
        *PatientProfileAdmin.list_display,
        "open_alerts",
        "outcomes",
        "timeline_link",
    ]

    def get_queryset(self, request):
        unresolved = Q(alerts__status__in=[AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED])
        return (
            super()
            .get_queryset(request)
            .annotate(open_alert_count=Count("alerts", filter=unresolved))
        )

    def get_changelist_instance(self, request):
        cl = super().get_changelist_instance(request)
        # Change from baseline for the whole page in three queries, not per row.
        changes = outcome_changes_for(cl.result_list)
        for patient in cl.result_list:
            patient.outcome_changes = changes.get(patient.pk, [])
        return cl

    @admin.display(description="open alerts", ordering="open_alert_count")
    def open_alerts(self, obj):
        count = getattr(obj, "open_alert_count", 0)
        return format_html('<strong class="open-alerts">{}</strong>', count) if count else "-"

    @admin.display(description="outcomes vs baseline")
    def outcomes(self, obj):
        """Every follow-up scored, per instrument: ``ODI 6w +18.0 (MCID met); 3m +34.0``."""
        by_instrument: dict[str, list[str]] = {}
        for c in getattr(obj, "outcome_changes", []):
            met = " (MCID met)" if c.meets_mcid else ""
            by_instrument.setdefault(c.instrument, []).append(f"{c.timepoint} {c.change:+.1f}{met}")
        return (
            "; ".join(f"{name.upper()} {', '.join(parts)}" for name, parts in by_instrument.items())
            or "-"
        )

    readonly_fields = ["timeline_link", *PatientProfileAdmin.readonly_fields]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        return [("Recovery", {"fields": ["timeline_link"]}), *fieldsets]

    @admin.display(description="timeline")
    def timeline_link(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        url = reverse("admin:recovery_patient_timeline", args=[obj.pk])
        return format_html('<a class="timeline-link" href="{}">Recovery timeline</a>', url)

    def get_urls(self):
        timeline = path(
            "<int:patient_id>/timeline/",
            self.admin_site.admin_view(patient_timeline_view),
            name="recovery_patient_timeline",
        )
        return [timeline, *super().get_urls()]


admin.site.unregister(PatientProfile)
admin.site.register(PatientProfile, PatientWithTimelineAdmin)
