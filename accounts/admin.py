from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.http import Http404
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin as OTPTOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from . import (  # noqa: F401 - register pages
    admin_break_glass,
    admin_caregivers,
    admin_erasure,
    admin_invitations,
)
from .admin_scoping import ScopedAdmin
from .models import CareTeamMembership, Clinic, PatientProfile, PHIAccess, Role, User
from .roles import is_clinic_admin, is_staff_member, may_invite_patients
from .selectors import staff_for
from .services import PATIENT_PREFERENCE_FIELDS, patient_preferences_update
from .settings_hooks import patient_settings_changed


@admin.register(Clinic)
class ClinicAdmin(admin.ModelAdmin):
    list_display = ["name", "time_zone", "require_two_factor", "created_at"]
    search_fields = ["name"]
    readonly_fields = ["created_at"]  # set by the server

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if request.user.is_superuser else qs.filter(pk=request.user.clinic_id)

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        raise Http404("No such clinic.")

    def has_module_permission(self, request):
        return is_clinic_admin(request.user)

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Staff accounts of the caller's clinic (patients are managed through their profile)."""

    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "role", "clinic", "is_active"]
    list_filter = ["role", "is_active"]
    search_fields = ["email", "first_name", "last_name"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Person", {"fields": ["first_name", "last_name", "role", "clinic"]}),
        ("Access", {"fields": ["is_active", "is_staff", "is_superuser", "last_login"]}),
    ]
    add_fieldsets = [
        (
            None,
            {"classes": ["wide"], "fields": ["email", "role", "clinic", "password1", "password2"]},
        ),
    ]
    readonly_fields = ["last_login"]

    def get_queryset(self, request):
        return staff_for(request.user)

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        raise Http404("No such user.")

    def has_module_permission(self, request):
        return is_clinic_admin(request.user)

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None):
        return self.has_view_permission(request, obj)

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def get_readonly_fields(self, request, obj=None):
        if request.user.is_superuser:
            return self.readonly_fields
        return [*self.readonly_fields, "clinic", "is_staff", "is_superuser", "role"]


class CareTeamInline(admin.TabularInline):
    """The care team: the clinic admin manages it, the clinicians read it. A plain select of
    the clinic's clinicians (scoped below)."""

    model = CareTeamMembership
    extra = 0
    readonly_fields = ["added_at"]  # set by the server when the row is added

    def has_view_permission(self, request, obj=None):
        return is_staff_member(request.user)

    def has_add_permission(self, request, obj=None):
        return is_clinic_admin(request.user)

    def has_change_permission(self, request, obj=None):
        return is_clinic_admin(request.user)

    def has_delete_permission(self, request, obj=None):
        return is_clinic_admin(request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "clinician" and not request.user.is_superuser:
            kwargs["queryset"] = staff_for(request.user).exclude(role=Role.CLINIC_ADMIN)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(PatientProfile)
class PatientProfileAdmin(ScopedAdmin):
    patient_path = ""
    phi_resource = "patient_profile"
    list_display = ["__str__", "mrn", "date_of_birth", "surgeon", "time_zone", "clinic"]
    list_select_related = ["user", "surgeon", "clinic"]
    list_filter = ["smoking_status", "has_diabetes"]
    search_fields = ["user__first_name", "user__last_name", "user__email", "mrn"]
    # The patient picker's order (the list's own is its changelist's: most urgent first).
    autocomplete_ordering = ["user__last_name", "user__first_name", "pk"]
    readonly_fields = ["user", "clinic", "created_at", "updated_at"]
    inlines = [CareTeamInline]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "user",
                    "clinic",
                    "date_of_birth",
                    "mrn",
                    "phone",
                    "surgeon",
                    "time_zone",
                ]
            },
        ),
        ("Risk factors", {"fields": ["smoking_status", "has_diabetes", "bmi"]}),
        (
            "Reminders",
            {
                "fields": [
                    "checkin_time",
                    "quiet_hours_start",
                    "quiet_hours_end",
                    "push_enabled",
                    "email_enabled",
                    "inbox_enabled",
                ]
            },
        ),
        ("Record", {"fields": ["created_at", "updated_at"]}),
    ]

    def has_add_permission(self, request):
        # Patients join through an invitation: the list links to "Invite a patient".
        return False

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "may_invite": may_invite_patients(request.user),
        }
        return super().changelist_view(request, extra_context)

    def has_delete_permission(self, request, obj=None):
        # Deleting a profile would erase a clinical record outright; only a superuser may.
        return request.user.is_superuser

    def save_model(self, request, obj, form, change):
        """Reminder settings change through the same service as in the app, and the apps that
        depend on them (reminder re-planning) are told, as the API does; the clinical fields
        (surgeon, MRN, risk factors) are saved as edited."""
        preferences = {
            name: form.cleaned_data[name]
            for name in form.changed_data
            if name in PATIENT_PREFERENCE_FIELDS
        }
        others = [
            name
            for name in form.changed_data
            if name not in PATIENT_PREFERENCE_FIELDS and name in form.cleaned_data
        ]
        if others:
            obj.save(update_fields=[*others, "updated_at"])
        if preferences:
            fresh = PatientProfile.objects.get(pk=obj.pk)
            profile, changed = patient_preferences_update(profile=fresh, **preferences)
            patient_settings_changed(profile=profile, changed=changed)


@admin.register(PHIAccess)
class PHIAccessAdmin(admin.ModelAdmin):
    """The PHI access log, for clinic admins: their clinic's rows only, read-only for everyone
    (the log is insert-only; nobody adds, edits or deletes rows here)."""

    list_display = ["at", "user", "patient", "action", "resource", "object_id", "ip_address"]
    list_select_related = ["user", "patient__user"]
    list_filter = ["action", "resource", ("user", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["user__email", "patient__user__last_name", "patient__mrn", "path"]
    date_hierarchy = "at"
    ordering = ["-at", "-pk"]
    readonly_fields = [f.name for f in PHIAccess._meta.fields]

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        if is_clinic_admin(request.user) and request.user.clinic_id:
            return qs.filter(clinic_id=request.user.clinic_id)
        return qs.none()

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        raise Http404("No such record.")

    def has_module_permission(self, request):
        return is_clinic_admin(request.user)

    def has_view_permission(self, request, obj=None):
        return is_clinic_admin(request.user)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# django-otp's device page (superusers only: a lost phone is handled by deleting the device)
# without the verifier's own state as inputs: drift and throttling are set by the server.
if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)


@admin.register(TOTPDevice)
class TOTPDeviceAdmin(OTPTOTPDeviceAdmin):
    readonly_fields = [
        *OTPTOTPDeviceAdmin.readonly_fields,
        "drift",
        "throttling_failure_timestamp",
        "throttling_failure_count",
    ]
