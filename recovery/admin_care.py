"""Admin pages for outcome scores, the preparation checklist, imaging, complications,
check-ins and alerts (scoped like every clinical page), and for the clinic-level data that
drives the care plan: protocols, triage rules and MCIDs (a clinic sees the shipped defaults
read-only and edits its own copies)."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from accounts.admin_scoping import ScopedAdmin, is_clinic_admin, is_staff_member, role_of
from accounts.models import CLINICIAN_ROLES, Role
from accounts.selectors import patients_for
from config.api.errors import ApplicationError

from . import services
from .admin import PatientFilter, RecordAdmin, refusal_text
from .models import (
    Alert,
    CheckIn,
    Complication,
    ImagingStudy,
    MinimalImportantDifference,
    OutcomeScore,
    PrepItem,
    Protocol,
    ProtocolApplication,
    ProtocolItem,
    Surgery,
    TriageRule,
)
from .services.alerts import alert_acknowledge, alert_resolve
from .services.outcomes import score_band
from .services.protocols import protocol_apply, protocol_copy


@admin.register(OutcomeScore)
class OutcomeScoreAdmin(RecordAdmin):
    list_display = ["completed_at", "patient_name", "instrument", "timepoint", "score", "band", "sections_answered"]
    list_filter = [PatientFilter, "instrument", "timepoint"]
    ordering = ["-completed_at"]
    server_readonly = [*RecordAdmin.server_readonly, "score", "sections_answered"]

    @admin.display(description="band")
    def band(self, obj):
        return score_band(obj.instrument, obj.score) or "-"


@admin.register(PrepItem)
class PrepItemAdmin(RecordAdmin):
    list_display = ["due_on", "patient_name", "kind", "owner", "status", "completed_on"]
    list_filter = [PatientFilter, "status", "owner", "kind"]
    ordering = ["due_on"]
    list_select_related = ["patient__user", "surgery"]


@admin.register(ImagingStudy)
class ImagingStudyAdmin(RecordAdmin):
    list_display = ["performed_on", "patient_name", "modality", "levels", "purpose", "fusion_status", "hardware_status"]
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
            request, queryset, "Resolved",
            lambda c: services.complication_resolve(
                actor=request.user, complication=c, resolved_on=timezone.localdate(timezone=c.patient.tz)
            ),
        )


@admin.register(CheckIn)
class CheckInAdmin(RecordAdmin):
    list_display = ["answered_at", "patient_name", "temperature_c", "fell", "pain_uncontrolled"]
    list_filter = [PatientFilter]
    ordering = ["-answered_at"]

    def has_change_permission(self, request, obj=None):
        return False  # the patient's own answers

    def has_add_permission(self, request):
        return False


@admin.register(Alert)
class AlertAdmin(ScopedAdmin):
    """Open alerts first; acknowledge and resolve through the services. Nothing is edited or
    deleted by hand: the lifecycle is the record."""

    list_display = ["opened_at", "tier", "title", "patient_label", "status", "acknowledge_by", "escalated_at"]
    list_filter = ["status", "tier", PatientFilter]
    list_select_related = ["patient__user", "acknowledged_by", "resolved_by"]
    search_fields = ["title", "patient__user__last_name", "patient__mrn"]
    ordering = ["status", "acknowledge_by"]
    readonly_fields = [
        "patient", "tier", "title", "detail", "rule_key", "source_table", "source_id", "status", "opened_at",
        "acknowledge_by", "acknowledged_at", "acknowledged_by", "resolved_at", "resolved_by",
        "resolution_note", "escalated_at",
    ]
    exclude = ["cause_key"]
    actions = ["acknowledge", "resolve"]

    @admin.display(description="patient", ordering="patient__user__last_name")
    def patient_label(self, obj):
        return obj.patient.user.full_name or obj.patient.user.email

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _lifecycle(self, request, queryset, verb, call):
        done = 0
        for alert in queryset:
            try:
                call(alert)
                done += 1
            except (ValidationError, ApplicationError) as exc:
                self.message_user(request, f"Not {verb.lower()}: {alert}: {refusal_text(exc)}", messages.ERROR)
        if done:
            self.message_user(request, f"{verb}: {done}.", messages.SUCCESS)

    @admin.action(description="Acknowledge selected alerts")
    def acknowledge(self, request, queryset):
        self._lifecycle(request, queryset, "Acknowledged", lambda a: alert_acknowledge(actor=request.user, alert=a))

    @admin.action(description="Resolve selected alerts")
    def resolve(self, request, queryset):
        self._lifecycle(request, queryset, "Resolved", lambda a: alert_resolve(actor=request.user, alert=a))


class ClinicDataAdmin(admin.ModelAdmin):
    """Rows that belong to a clinic or are shipped defaults (``clinic`` empty). Staff see their
    clinic's rows and the defaults; defaults are read-only except for superusers; a clinic's own
    rows are edited by its clinic admins (and, for protocols, its surgeons)."""

    editors = (Role.CLINIC_ADMIN,)

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(Q(clinic__isnull=True) | Q(clinic_id=request.user.clinic_id))

    def _editor(self, request) -> bool:
        return request.user.is_superuser or (is_staff_member(request.user) and role_of(request.user) in self.editors)

    def has_module_permission(self, request):
        return is_staff_member(request.user)

    def has_view_permission(self, request, obj=None):
        return is_staff_member(request.user)

    def has_add_permission(self, request):
        return self._editor(request)

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.clinic_id is None:
            return request.user.is_superuser
        return self._editor(request)

    has_delete_permission = has_change_permission

    def get_readonly_fields(self, request, obj=None):
        return [] if request.user.is_superuser else ["clinic"]

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser:
            obj.clinic_id = request.user.clinic_id
        super().save_model(request, obj, form, change)


class ProtocolItemInline(admin.TabularInline):
    model = ProtocolItem
    extra = 0
    fields = [
        "item_type", "activity", "limit_value", "limit_unit", "start_week", "end_week", "day_offset", "purpose",
        "imaging", "title", "milestone_kind", "sessions_per_week", "weeks", "pt_setting", "instructions",
    ]


@admin.register(Protocol)
class ProtocolAdmin(ClinicDataAdmin):
    list_display = ["name", "clinic", "is_active", "item_count"]
    list_filter = ["is_active"]
    search_fields = ["name"]
    inlines = [ProtocolItemInline]
    actions = ["copy_to_my_clinic"]
    editors = (Role.CLINIC_ADMIN, Role.SURGEON)

    @admin.display(description="items")
    def item_count(self, obj):
        return obj.items.count()

    @admin.action(description="Copy to my clinic (to adapt it)")
    def copy_to_my_clinic(self, request, queryset):
        if not self._editor(request) or not request.user.clinic_id:
            self.message_user(request, "Only your clinic's admins and surgeons copy protocols.", messages.ERROR)
            return
        for protocol in queryset:
            try:
                protocol_copy(protocol=protocol, clinic=request.user.clinic, name=f"{protocol.name} ({request.user.clinic})")
            except ValidationError as exc:
                self.message_user(request, f"Not copied: {protocol}: {refusal_text(exc)}", messages.ERROR)
            else:
                self.message_user(request, f"Copied {protocol}.", messages.SUCCESS)


@admin.register(ProtocolApplication)
class ProtocolApplicationAdmin(ScopedAdmin):
    """Apply a protocol to a surgery: adding a row here creates the plan (once)."""

    patient_path = "surgery__patient"
    list_display = ["protocol", "surgery", "applied_at", "applied_by", "anchor_on"]
    list_select_related = ["protocol", "surgery", "applied_by"]
    fields = ["protocol", "surgery"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "surgery" and not request.user.is_superuser:
            kwargs["queryset"] = Surgery.objects.filter(patient__in=patients_for(request.user).values("pk"))
        if db_field.name == "protocol" and not request.user.is_superuser:
            kwargs["queryset"] = Protocol.objects.filter(
                Q(clinic__isnull=True) | Q(clinic_id=request.user.clinic_id), is_active=True
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        application, created = protocol_apply(actor=request.user, protocol=obj.protocol, surgery=obj.surgery)
        obj.pk = application.pk
        self.message_user(request, f"{created} records created from {obj.protocol}.", messages.SUCCESS)

    def _may_write(self, request) -> bool:
        return is_clinic_admin(request.user) or role_of(request.user) in CLINICIAN_ROLES


@admin.register(TriageRule)
class TriageRuleAdmin(ClinicDataAdmin):
    list_display = ["key", "tier", "title", "source", "field", "threshold", "clinic", "is_active"]
    list_filter = ["tier", "source", "is_active"]
    search_fields = ["key", "title"]


@admin.register(MinimalImportantDifference)
class MinimalImportantDifferenceAdmin(ClinicDataAdmin):
    list_display = ["instrument", "population", "value", "unit", "clinic", "source"]
    list_filter = ["instrument", "population"]
