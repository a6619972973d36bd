"""The accounts patient page, with the recovery timeline: its URL, a link to it, the highest
open alert tier and outcome changes in the list (``accounts`` may not import ``recovery``, so
they are added here)."""

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import Case, Count, IntegerField, Min, Q, Value, When
from django.db.models.functions import Coalesce
from django.urls import path, reverse
from django.utils.html import format_html

from accounts.admin import PatientProfileAdmin
from accounts.models import PatientProfile
from recovery.care.models import AlertStatus, Tier
from recovery.outcomes.selectors import outcome_changes_for

from .timeline import TIER_ORDER, tier_name
from .views import patient_timeline_view

NO_ALERT_RANK = len(TIER_ORDER)  # sorts after every tier


def open_alert_rank():
    """The most urgent unresolved alert of a patient as a number (0 emergency, 1 same day,
    2 within 24 hours, ``NO_ALERT_RANK`` none): an aggregate over ``alerts``, so the list sorts
    and filters by it in SQL."""
    unresolved = Q(alerts__status__in=[AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED])
    rank = Case(
        *(When(alerts__tier=tier, then=Value(n)) for n, tier in enumerate(TIER_ORDER)),
        output_field=IntegerField(),
    )
    return Coalesce(Min(rank, filter=unresolved), Value(NO_ALERT_RANK))


class OpenAlertTierFilter(admin.SimpleListFilter):
    title = "open alert tier"
    parameter_name = "alert_tier"

    def lookups(self, request, model_admin):
        return [*((t, tier_name(t)) for t in TIER_ORDER), ("none", "No open alert")]

    def queryset(self, request, queryset):
        value = self.value()
        if value in TIER_ORDER:
            return queryset.filter(open_alert_rank=TIER_ORDER.index(value))
        if value == "none":
            return queryset.filter(open_alert_rank=NO_ALERT_RANK)
        return queryset


class MostUrgentFirstChangeList(ChangeList):
    """Patients with the most urgent open alert first, then by name (unless a column header
    sorts otherwise). The list's own ordering, not the admin's: the rank is an annotation of
    the list's queryset, which ``ModelAdmin.get_queryset`` orders before it is added."""

    def _get_default_ordering(self):
        return ["open_alert_rank", "user__last_name", "user__first_name", "pk"]


class PatientWithTimelineAdmin(PatientProfileAdmin):
    """The accounts patient page, plus a link to and the URL of the recovery timeline
    (``accounts`` may not import ``recovery``, so the timeline is added from here).

    The list leads with the most urgent open alert (a coloured tier label, sortable and
    filterable; patients with an emergency first by default) and keeps to the columns a care
    team scans, so it fits a 1440 px screen without scrolling sideways."""

    list_display = [
        "__str__",
        "highest_open_alert",
        "mrn_column",
        "date_of_birth",
        "surgeon",
        "outcomes",
        "timeline_column",
    ]
    list_filter = [OpenAlertTierFilter, *PatientProfileAdmin.list_filter]
    change_list_template = "admin/recovery/patient_change_list.html"

    def get_list_display(self, request):
        # Only a superuser sees several clinics; for everyone else the column repeats one name.
        if request.user.is_superuser:
            return [*self.list_display[:-1], "clinic", self.list_display[-1]]
        return self.list_display

    def get_queryset(self, request):
        unresolved = Q(alerts__status__in=[AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED])
        return (
            super()
            .get_queryset(request)
            .annotate(
                open_alert_count=Count("alerts", filter=unresolved),
                open_alert_rank=open_alert_rank(),
            )
        )

    def get_changelist(self, request, **kwargs):
        return MostUrgentFirstChangeList

    def get_changelist_instance(self, request):
        cl = super().get_changelist_instance(request)
        # Change from baseline for the whole page in three queries, not per row.
        changes = outcome_changes_for(cl.result_list)
        for patient in cl.result_list:
            patient.outcome_changes = changes.get(patient.pk, [])
        return cl

    @admin.display(description="open alert", ordering="open_alert_rank")
    def highest_open_alert(self, obj):
        rank = getattr(obj, "open_alert_rank", NO_ALERT_RANK)
        if rank >= NO_ALERT_RANK:
            return "-"
        tier = TIER_ORDER[rank]
        more = obj.open_alert_count - 1
        return format_html(
            '<span class="tier-label tier-{}" data-tier="{}" title="{}">{}</span>{}',
            tier,
            tier,
            Tier(tier).label,
            tier_name(tier),
            f" +{more} more" if more > 0 else "",
        )

    @admin.display(description="MRN", ordering="mrn")
    def mrn_column(self, obj):
        return obj.mrn or "-"

    @admin.display(description="timeline")
    def timeline_column(self, obj):
        url = reverse("admin:recovery_patient_timeline", args=[obj.pk])
        return format_html('<a class="timeline-link" href="{}">Timeline</a>', url)

    @admin.display(description="outcomes vs baseline")
    def outcomes(self, obj):
        """Every follow-up scored, per instrument: ``ODI 3m +34.0 (MCID met), 12m +30.0``."""
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
