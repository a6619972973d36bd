"""Reminders in the admin, scoped like every patient page (ScopedAdmin): listed per patient with
status and errors; a clinician on the care team can cancel or resend one. Rows are never edited
by hand: the actions call the services. Each page writes the PHI access log (ScopedAdmin)."""

from django.contrib import admin, messages

from accounts.admin_scoping import ScopedAdmin
from accounts.roles import is_clinic_admin

from . import services
from .models import Device, Notification, Reminder, ReminderPlan


class _ReadOnly(ScopedAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Reminder)
class ReminderAdmin(_ReadOnly):
    phi_resource = "reminders"
    list_display = [
        "due_at",
        "patient",
        "recipient_display",
        "kind",
        "title",
        "channel",
        "status",
        "attempts",
        "sent_at",
        "last_error",
    ]
    list_select_related = ["patient__user", "recipient"]
    list_filter = ["status", "kind", "channel"]
    search_fields = [
        "patient__user__first_name",
        "patient__user__last_name",
        "patient__mrn",
        "title",
    ]
    date_hierarchy = "due_at"
    ordering = ["-due_at", "-id"]
    actions = ["cancel_reminders", "resend_reminders"]
    readonly_fields = [f.name for f in Reminder._meta.fields]

    @admin.display(description="Recipient", ordering="recipient")
    def recipient_display(self, obj):
        return f"caregiver {obj.recipient.email}" if obj.recipient_id else "patient"

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not self._may_write(request):
            actions.pop("cancel_reminders", None)
            actions.pop("resend_reminders", None)
        return actions

    @admin.action(description="Cancel the selected reminders (if not sent yet)")
    def cancel_reminders(self, request, queryset):
        if not self._may_write(request):
            return
        done = sum(
            services.reminder_cancel(reminder_id=pk, by=request.user.email)
            for pk in queryset.values_list("pk", flat=True)
        )
        self.message_user(request, f"{done} reminder(s) cancelled.", messages.SUCCESS)

    @admin.action(description="Send the selected reminders again, now")
    def resend_reminders(self, request, queryset):
        if not self._may_write(request):
            return
        done = sum(
            services.reminder_resend(reminder_id=pk, by=request.user.email) is not None
            for pk in queryset.values_list("pk", flat=True)
        )
        self.message_user(
            request,
            f"{done} reminder(s) will be sent within a minute (open ones are left as they are).",
            messages.SUCCESS,
        )


@admin.register(Notification)
class NotificationAdmin(_ReadOnly):
    phi_resource = "notifications"
    list_display = ["created_at", "patient", "kind", "title", "read_at", "deleted_at"]
    list_select_related = ["patient__user"]
    list_filter = ["kind"]
    ordering = ["-created_at", "-id"]


@admin.register(Device)
class DeviceAdmin(_ReadOnly):
    phi_resource = "devices"
    list_display = [
        "patient",
        "platform",
        "active",
        "deactivated_reason",
        "last_used_at",
        "created_at",
    ]
    list_select_related = ["patient__user"]
    list_filter = ["platform", "active"]
    exclude = ["token", "token_hash"]


@admin.register(ReminderPlan)
class ReminderPlanAdmin(admin.ModelAdmin):
    """A clinic's reminder plans (steps per kind); clinic admins edit their own clinic's."""

    list_display = ["clinic", "kind", "steps", "updated_at"]

    def _is_clinic_admin(self, request):
        return is_clinic_admin(request.user)

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if request.user.is_superuser else qs.filter(clinic_id=request.user.clinic_id)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "clinic" and not request.user.is_superuser:
            from accounts.models import Clinic

            kwargs["queryset"] = Clinic.objects.filter(pk=request.user.clinic_id)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_module_permission(self, request):
        return self._is_clinic_admin(request)

    has_view_permission = has_change_permission = has_delete_permission = (
        lambda self, request, obj=None: self._is_clinic_admin(request)
    )

    def has_add_permission(self, request):
        return self._is_clinic_admin(request)
