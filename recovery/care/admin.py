"""Admin pages of check-ins and alerts (scoped like every clinical page), and of the clinic-level
data that drives the care plan: protocols and triage rules (a clinic sees the shipped defaults
read-only and edits its own copies)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from accounts.admin_scoping import ScopedAdmin
from accounts.models import Role
from accounts.roles import is_clinic_admin, is_clinician
from accounts.selectors import patients_for
from config.errors import Conflict, DomainError
from recovery.record.admin import ClinicDataAdmin, PatientFilter, RecordAdmin, refusal_text
from recovery.record.models import Surgery

from .alerts import alert_acknowledge, alert_resolve
from .models import (
    Alert,
    CheckIn,
    PlanOutcome,
    Protocol,
    ProtocolApplication,
    ProtocolItem,
    TriageRule,
)
from .protocols import protocol_apply, protocol_copy
from .selectors import APPLIED, CREATE, protocol_preview


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
    server_set = ("created_at",)

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


class ProtocolApplyForm(forms.ModelForm):
    """Picks what to apply. Applying the same protocol again is allowed: the preview then shows
    what is left to do (nothing, unless the protocol gained items)."""

    class Meta:
        model = ProtocolApplication
        fields = ["protocol", "surgery"]

    def _post_clean(self):
        """No model validation: the row is ``protocol_apply``'s to write (an application that
        exists already is not a refusal; applying is idempotent)."""


@admin.register(ProtocolApplication)
class ProtocolApplicationAdmin(ScopedAdmin):
    """Apply a protocol to a surgery. The add form picks the protocol and the surgery; posting
    it shows what applying would do (``protocol_preview``: records to create, records skipped
    because the patient already has them, past items recorded as not applicable), like
    Django's delete confirmation; confirming applies exactly that plan (``protocol_apply``
    with the preview's fingerprint), once."""

    phi_resource = "protocol_applications"
    form = ProtocolApplyForm
    confirmation_template = "admin/recovery/protocolapplication/apply_confirmation.html"

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

    def add_view(self, request, form_url="", extra_context=None):
        if request.method != "POST":
            return super().add_view(request, form_url, extra_context)
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = self.get_form(request, None, change=False)(request.POST)
        if not form.is_valid():
            return super().add_view(request, form_url, extra_context)  # shows the errors
        protocol, surgery = form.cleaned_data["protocol"], form.cleaned_data["surgery"]
        surgery = Surgery.objects.select_related("patient__user").get(pk=surgery.pk)
        confirmed = request.POST.get("confirm")
        changed = ""
        if confirmed:
            try:
                _, created = protocol_apply(
                    actor=request.user, protocol=protocol, surgery=surgery, expected=confirmed
                )
            except Conflict as exc:
                changed = str(exc.detail)  # shown again, as it is now
            except (ValidationError, DomainError) as exc:
                self.message_user(request, f"Not applied: {refusal_text(exc)}", messages.ERROR)
                return HttpResponseRedirect(request.path)
            else:
                self.message_user(
                    request,
                    f"{protocol} applied: {created} records created.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:recovery_protocolapplication_changelist")
                )
        return self.render_apply_confirmation(request, protocol, surgery, changed)

    def render_apply_confirmation(self, request, protocol, surgery, changed: str):
        preview = protocol_preview(protocol=protocol, surgery=surgery)
        self.phi_log(request, [surgery], action="admin_preview", object_id=surgery.pk)
        user = surgery.patient.user
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Apply {protocol}",
            "preview": preview,
            "patient_label": user.full_name or user.email,
            "create": preview.where(CREATE),
            "present": preview.where(PlanOutcome.ALREADY_PRESENT),
            "past": preview.where(PlanOutcome.NOT_APPLICABLE),
            "applied": preview.where(APPLIED),
            "changed": changed,
        }
        return TemplateResponse(request, self.confirmation_template, context)

    def patient_id_of(self, obj) -> int | None:
        if isinstance(obj, Surgery):
            return obj.patient_id
        return super().patient_id_of(obj)

    def _may_write(self, request) -> bool:
        return is_clinic_admin(request.user) or is_clinician(request.user)


@admin.register(TriageRule)
class TriageRuleAdmin(ClinicDataAdmin):
    list_display = ["key", "tier", "title", "source", "field", "threshold", "clinic", "is_active"]
    list_filter = ["tier", "source", "is_active"]
    search_fields = ["key", "title"]
