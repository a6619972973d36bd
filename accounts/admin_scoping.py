"""Role-based, scoped admin pages.

Staff never get Django model permissions one by one: what a role may do is decided here, and
every queryset, search, filter, autocomplete and foreign-key picker is narrowed to the patients
the signed-in user may see (``accounts.selectors.patients_for``). A URL typed by hand for a row
outside that scope is a 404, because the change view looks rows up through the scoped queryset.
"""

from django.contrib import admin
from django.http import Http404

from .models import CLINICIAN_ROLES, Role
from .selectors import patients_for, staff_for


def role_of(user) -> str | None:
    """The user's role, or None for anonymous users."""
    return getattr(user, "role", None) if user.is_authenticated else None


def is_staff_member(user) -> bool:
    return (
        user.is_authenticated
        and user.is_active
        and user.is_staff
        and (user.is_superuser or role_of(user) != Role.PATIENT)
    )


def is_clinic_admin(user) -> bool:
    return is_staff_member(user) and (user.is_superuser or role_of(user) == Role.CLINIC_ADMIN)


class RealignAdminSite(admin.AdminSite):
    site_header = "Realign"
    site_title = "Realign"
    index_title = "Care team"

    def has_permission(self, request):
        return is_staff_member(request.user)


class ScopedAdmin(admin.ModelAdmin):
    """Base for admin pages of patient data.

    ``patient_path`` is the ORM path from the model to ``PatientProfile`` (``"patient"`` for
    clinical rows, ``""`` for the profile itself). ``clinician_can_write`` says whether care-team
    clinicians may add, change and delete rows here; clinic admins and superusers may.
    """

    patient_path = "patient"
    clinician_can_write = True
    staff_only_fields: tuple = ()

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # Outside the caller's scope is indistinguishable from not existing: 404, no redirect.
        raise Http404("No such record.")

    def _scope_filter(self, request):
        key = f"{self.patient_path}__in" if self.patient_path else "pk__in"
        return {key: patients_for(request.user).values("pk")}

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(**self._scope_filter(request))

    def _may_read(self, request) -> bool:
        return is_staff_member(request.user)

    def _may_write(self, request) -> bool:
        user = request.user
        if is_clinic_admin(user):
            return True
        return self.clinician_can_write and role_of(user) in CLINICIAN_ROLES and is_staff_member(user)

    def has_module_permission(self, request):
        return self._may_read(request)

    def has_view_permission(self, request, obj=None):
        return self._may_read(request)

    def has_add_permission(self, request):
        return self._may_write(request)

    def has_change_permission(self, request, obj=None):
        return self._may_write(request)

    def has_delete_permission(self, request, obj=None):
        return self._may_write(request)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        from .models import PatientProfile, User

        model = db_field.remote_field.model
        if model is PatientProfile and not request.user.is_superuser:
            kwargs["queryset"] = patients_for(request.user).select_related("user")
        elif model is User and not request.user.is_superuser:
            kwargs["queryset"] = staff_for(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        from .models import User

        if db_field.remote_field.model is User and not request.user.is_superuser:
            kwargs["queryset"] = staff_for(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)
