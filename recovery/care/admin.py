"""Admin pages of check-ins and alerts (scoped like every clinical page), and of the clinic-level
data that drives the care plan: protocols and triage rules (a clinic sees the shipped defaults
read-only and edits its own copies)."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Q

from accounts.admin_scoping import ScopedAdmin
from accounts.models import Role
from accounts.roles import is_clinic_admin, is_clinician
from accounts.selectors import patients_for
from config.errors import DomainError
from recovery.record.admin import ClinicDataAdmin, PatientFilter, RecordAdmin, refusal_text
from recovery.record.models import Surgery

from .alerts import alert_acknowledge, alert_resolve
from .models import Alert, CheckIn, Protocol, ProtocolApplication, ProtocolItem, TriageRule
from .protocols import protocol_apply, protocol_copy


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

    phi_resource = "alerts"

    list_display = [
        "opened_at",
        "tier",
        "title",
        "patient_label",
        "status",
        "acknowledge_by",
        "escalated_at",
    ]
    list_filter = ["status", "tier", PatientFilter]
    list_select_related = ["patient__user", "acknowledged_by", "resolved_by"]
    search_fields = ["title", "patient__user__last_name", "patient__mrn"]
    ordering = ["status", "acknowledge_by"]
    readonly_fields = [
        "patient",
        "tier",
        "title",
        "detail",
        "rule_key",
        "source_table",
        "source_id",
        "status",
        "opened_at",
        "acknowledge_by",
        "acknowledged_at",
        "acknowledged_by",
        "resolved_at",
        "resolved_by",
        "resolution_note",
        "escalated_at",
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
            except (ValidationError, DomainError) as exc:
                self.message_user(
                    request, f"Not {verb.lower()}: {alert}: {refusal_text(exc)}", messages.ERROR
                )
        if done:
            self.message_user(request, f"{verb}: {done}.", messages.SUCCESS)

    @admin.action(description="Acknowledge selected alerts")
    def acknowledge(self, request, queryset):
        self._lifecycle(
            request,
            queryset,
            "Acknowledged",
            lambda a: alert_acknowledge(actor=request.user, alert=a),
        )

    @admin.action(description="Resolve selected alerts")
    def resolve(self, request, queryset):
        self._lifecycle(
            request, queryset, "Resolved", lambda a: alert_resolve(actor=request.user, alert=a)
        )


class ProtocolItemInline(admin.TabularInline):
    model = ProtocolItem
    extra = 0
    fields = [
        "item_type",
        "activity",
        "limit_value",
        "limit_unit",
        "start_week",
        "end_week",
        "day_offset",
        "purpose",
        "imaging",
        "title",
        "milestone_kind",
        "sessions_per_week",
        "weeks",
        "pt_setting",
        "instructions",
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
            self.message_user(
                request, "Only your clinic's admins and surgeons copy protocols.", messages.ERROR
            )
            return
        for protocol in queryset:
            try:
                protocol_copy(
                    protocol=protocol,
                    clinic=request.user.clinic,
                    name=f"{protocol.name} ({request.user.clinic})",
                )
            except ValidationError as exc:
                self.message_user(
                    request, f"Not copied: {protocol}: {refusal_text(exc)}", messages.ERROR
                )
            else:
                self.message_user(request, f"Copied {protocol}.", messages.SUCCESS)


@admin.register(ProtocolApplication)
class ProtocolApplicationAdmin(ScopedAdmin):
    """Apply a protocol to a surgery: adding a row here creates the plan (once)."""

    phi_resource = "protocol_applications"

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
            kwargs["queryset"] = Surgery.objects.filter(
                patient__in=patients_for(request.user).values("pk")
            )
        if db_field.name == "protocol" and not request.user.is_superuser:
            kwargs["queryset"] = Protocol.objects.filter(
                Q(clinic__isnull=True) | Q(clinic_id=request.user.clinic_id), is_active=True
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        application, created = protocol_apply(
            actor=request.user, protocol=obj.protocol, surgery=obj.surgery
        )
        obj.pk = application.pk
        self.message_user(
            request, f"{created} records created from {obj.protocol}.", messages.SUCCESS
        )

    def _may_write(self, request) -> bool:
        return is_clinic_admin(request.user) or is_clinician(request.user)


@admin.register(TriageRule)
class TriageRuleAdmin(ClinicDataAdmin):
    list_display = ["key", "tier", "title", "source", "field", "threshold", "clinic", "is_active"]
    list_filter = ["tier", "source", "is_active"]
    search_fields = ["key", "title"]
