"""Admin pages of check-ins and alerts (scoped like every clinical page), and of the clinic-level
data that drives the care plan: protocols and triage rules (a clinic sees the shipped defaults
read-only and edits its own copies)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import dateformat, timezone
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from accounts.admin_scoping import ScopedAdmin
from accounts.models import Role
from accounts.roles import is_clinic_admin, is_clinician
from accounts.selectors import patients_for
from config.errors import Conflict, DomainError
from recovery.record.admin import ClinicDataAdmin, PatientFilter, RecordAdmin, refusal_text
from recovery.record.models import Surgery

from .alerts import RESOLUTION_NOTE_MAX, alert_acknowledge, alert_resolve
from .models import (
    Alert,
    AlertStatus,
    CheckIn,
    PlanOutcome,
    Protocol,
    ProtocolApplication,
    ProtocolItem,
    Tier,
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


def local_time(alert: Alert, value) -> str:
    """A time of the alert in its patient's zone, written as the timeline writes it."""
    if value is None:
        return "-"
    return dateformat.format(timezone.localtime(value, alert.patient.tz), "Y-m-d H:i T")


@admin.register(Alert)
class AlertAdmin(ScopedAdmin):
    """Open alerts first. Acknowledge and resolve (with a note) from the alert's own page or,
    acknowledge only, from the list: both call the services, which decide who may. Nothing is
    edited or deleted by hand: the lifecycle is the record. Times are in the patient's zone."""

    phi_resource = "alerts"
    change_form_template = "admin/recovery/alert/change_form.html"

    list_display = [
        "opened",
        "tier",
        "title",
        "patient_label",
        "status",
        "acknowledge_deadline",
        "escalated",
    ]
    list_filter = ["status", "tier", PatientFilter]
    list_select_related = ["patient__user", "acknowledged_by", "resolved_by"]
    search_fields = ["title", "patient__user__last_name", "patient__mrn"]
    ordering = ["status", "acknowledge_by"]
    fields = readonly_fields = [
        "patient",
        "tier",
        "title",
        "cause_list",
        "source_table",
        "source_id",
        "status",
        "opened",
        "acknowledge_deadline",
        "acknowledged",
        "acknowledged_by",
        "resolved",
        "resolved_by",
        "resolution_note",
        "escalated",
        "time_zone",
    ]
    actions = ["acknowledge"]

    @admin.display(description="patient", ordering="patient__user__last_name")
    def patient_label(self, obj):
        return obj.patient.user.full_name or obj.patient.user.email

    @admin.display(description="red flags")
    def cause_list(self, obj):
        causes = obj.causes or [
            {"rule_key": obj.rule_key, "tier": obj.tier, "title": obj.title, "detail": obj.detail}
        ]
        return format_html(
            '<ul class="alert-causes">{}</ul>',
            format_html_join(
                "",
                '<li class="alert-{}">{} ({}){}</li>',
                (
                    (
                        c["tier"],
                        c["title"],
                        Tier(c["tier"]).label.split(":")[0].lower(),
                        f": {c['detail']}" if c["detail"] else "",
                    )
                    for c in causes
                ),
            ),
        )

    @admin.display(description="opened", ordering="opened_at")
    def opened(self, obj):
        return local_time(obj, obj.opened_at)

    @admin.display(description="acknowledge by", ordering="acknowledge_by")
    def acknowledge_deadline(self, obj):
        return local_time(obj, obj.acknowledge_by)

    @admin.display(description="acknowledged at")
    def acknowledged(self, obj):
        return local_time(obj, obj.acknowledged_at)

    @admin.display(description="resolved at")
    def resolved(self, obj):
        return local_time(obj, obj.resolved_at)

    @admin.display(description="escalated at", ordering="escalated_at")
    def escalated(self, obj):
        return local_time(obj, obj.escalated_at)

    @admin.display(description="times shown in")
    def time_zone(self, obj):
        return f"{obj.patient.time_zone} (the patient's time zone)"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    # --- acknowledge and resolve from the alert's page

    def get_urls(self):
        def step(view):
            return self.admin_site.admin_view(require_POST(view))

        return [
            path(
                "<path:object_id>/acknowledge/",
                step(self.acknowledge_view),
                name="recovery_alert_acknowledge",
            ),
            path(
                "<path:object_id>/resolve/",
                step(self.resolve_view),
                name="recovery_alert_resolve",
            ),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["may_acknowledge"] = obj.status == AlertStatus.OPEN
            context["may_resolve"] = obj.status != AlertStatus.RESOLVED
            context["note_max_length"] = RESOLUTION_NOTE_MAX
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _step(self, request, object_id, *, verb: str, action: str, call):
        """Looks the alert up through the scope (outside it: 404), calls the service, and
        returns to the alert's page with what happened."""
        alert = self._ensure_in_scope(request, object_id)
        if alert is None:
            raise PermissionDenied
        try:
            call(alert)
        except (ValidationError, DomainError) as exc:
            self.message_user(request, f"Not {verb.lower()}: {refusal_text(exc)}", messages.ERROR)
        else:
            self.phi_log(request, [alert], action=action, object_id=alert.pk)
            self.message_user(request, f"{verb}.", messages.SUCCESS)
        return redirect(reverse("admin:recovery_alert_change", args=[alert.pk]))

    def acknowledge_view(self, request, object_id):
        return self._step(
            request,
            object_id,
            verb="Acknowledged",
            action="admin_acknowledge",
            call=lambda a: alert_acknowledge(actor=request.user, alert=a),
        )

    def resolve_view(self, request, object_id):
        note = request.POST.get("note", "")
        return self._step(
            request,
            object_id,
            verb="Resolved",
            action="admin_resolve",
            call=lambda a: alert_resolve(actor=request.user, alert=a, note=note),
        )

    # --- the list's action (resolving needs a note per alert: from its page)

    @admin.action(description="Acknowledge selected alerts")
    def acknowledge(self, request, queryset):
        done = 0
        for alert in queryset:
            try:
                alert_acknowledge(actor=request.user, alert=alert)
                done += 1
            except (ValidationError, DomainError) as exc:
                self.message_user(
                    request, f"Not acknowledged: {alert}: {refusal_text(exc)}", messages.ERROR
                )
        if done:
            self.message_user(request, f"Acknowledged: {done}.", messages.SUCCESS)


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
    list_display = [
        "key",
        "tier",
        "title",
        "source",
        "field",
        "direction",
        "threshold",
        "clinic",
        "is_active",
    ]
    list_filter = ["tier", "source", "is_active"]
    search_fields = ["key", "title"]
