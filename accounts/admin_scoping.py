"""Role-based, scoped admin pages.

Staff never get Django model permissions one by one: what a role may do is decided here, and
every queryset, search, filter, autocomplete and foreign-key picker is narrowed to the patients
the signed-in user may see (``accounts.selectors.patients_for``). A URL typed by hand for a row
outside that scope is a 404, because the change view looks rows up through the scoped queryset.

Every page of ``ScopedAdmin`` that shows patients' rows writes the PHI access log
(``accounts.audit``): changelists, change, history and delete pages, and the autocomplete
answers drawn from a scoped admin (the patient picker).
"""

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.db import models
from django.http import Http404
from django.shortcuts import redirect
from django.urls import path, reverse

from .audit import phi_access_record
from .roles import is_clinic_admin, is_clinician, is_staff_member
from .selectors import patients_for, staff_for
from .two_factor import AdminLoginForm, confirmed_device_for, enrol_view, second_factor_satisfied


class RealignAdminSite(admin.AdminSite):
    """Staff only (never patients), and two-factor where it applies.

    Like django-otp's ``OTPAdminSite``, a session that needs a second factor (the clinic requires
    it, or the user has enrolled a device) counts as signed in only once a device verified it;
    unlike it, staff of clinics that do not require two-factor may sign in with a password alone.
    Staff who must enrol are sent to the enrolment page and reach no other admin page first.
    """

    site_header = "Realign"
    site_title = "Realign"
    index_title = "Care team"
    login_template = "admin/realign_login.html"

    #: The index page (``/admin/``): a view ``(request, site, extra_context)``. ``recovery.admin``
    #: sets the care team's dashboard here (``accounts`` may not import ``recovery``); Django's
    #: list of every page stays at ``/admin/models/`` (``admin:model_list``).
    dashboard_view = None

    def index(self, request, extra_context=None):
        if self.dashboard_view is None:
            return super().index(request, extra_context)
        return self.dashboard_view(request, self, extra_context)

    def model_list(self, request, extra_context=None):
        return super().index(request, {"title": "All pages", **(extra_context or {})})

    @property
    def login_form(self):

        return AdminLoginForm

    def has_permission(self, request):

        return is_staff_member(request.user) and second_factor_satisfied(request)

    def login(self, request, extra_context=None):

        user = request.user
        if (
            request.method == "GET"
            and is_staff_member(user)
            and not self.has_permission(request)
            and confirmed_device_for(user) is None
        ):
            # Signed in with a password; the clinic requires a device that is not set up yet.
            target = request.GET.get("next", "")
            url = reverse("admin:two_factor_enrol", current_app=self.name)
            return redirect(f"{url}?next={target}" if target else url)
        extra_context = {**(extra_context or {}), "needs_code": is_staff_member(user)}
        return super().login(request, extra_context)

    def autocomplete_view(self, request):
        return AuditedAutocompleteJsonView.as_view(admin_site=self)(request)

    def get_urls(self):

        def enrol(request):
            return enrol_view(request, self)

        return [
            path(
                "two-factor/", self.admin_view_without_second_factor(enrol), name="two_factor_enrol"
            ),
            path("models/", self.admin_view(self.model_list), name="model_list"),
            *super().get_urls(),
        ]

    def admin_view_without_second_factor(self, view):
        """Like ``admin_view`` (CSRF, no caching) for the pages that set up the second factor."""
        from django.views.decorators.cache import never_cache
        from django.views.decorators.csrf import csrf_protect

        return never_cache(csrf_protect(view))


class AuditedAutocompleteJsonView(AutocompleteJsonView):
    """Django's autocomplete, writing a PHI access row per patient on the page it answers with
    when the answer comes from a scoped admin (the patient picker lists names and MRNs)."""

    def get_queryset(self):
        # Pages of a list in no fixed order could repeat or skip a row: the admin's
        # ``autocomplete_ordering`` (the patient picker: by name), else its ordering, else by id.
        queryset = super().get_queryset()
        ordering = (
            getattr(self.model_admin, "autocomplete_ordering", None)
            or self.model_admin.get_ordering(self.request)
            or ["pk"]
        )
        return queryset.order_by(*ordering)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if isinstance(self.model_admin, ScopedAdmin):
            # The page's rows are fetched here once; the response reuses the same queryset.
            self.model_admin.phi_log(
                self.request, context["object_list"], action="admin_autocomplete"
            )
        return context


class ScopedAdmin(admin.ModelAdmin):
    """Base for admin pages of patient data.

    ``patient_path`` is the ORM path from the model to ``PatientProfile`` (``"patient"`` for
    clinical rows, ``""`` for the profile itself). ``clinician_can_write`` says whether care-team
    clinicians may add, change and delete rows here; clinic admins and superusers may.
    """

    patient_path = "patient"
    clinician_can_write = True
    staff_only_fields: tuple = ()
    phi_resource = ""  # the ``resource`` of this page's PHI access rows; default: the model name
    # A link typed without a scheme is https (Django 6's default; 5.2 would make it http).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    # --- PHI access log

    def phi_resource_name(self) -> str:
        return self.phi_resource or self.model._meta.model_name

    def patient_id_of(self, obj) -> int | None:
        """The patient a row belongs to, following ``patient_path`` through rows the page has
        already loaded (``list_select_related``), so no query per row."""
        if not self.patient_path:
            return obj.pk
        *hops, last = self.patient_path.split("__")
        for hop in hops:
            obj = getattr(obj, hop)
            if obj is None:
                return None
        return getattr(obj, f"{last}_id")

    def phi_log(self, request, rows, *, action: str, object_id="") -> None:
        """One bulk insert naming every patient whose rows ``rows`` holds."""
        ids = {self.patient_id_of(row) for row in rows}
        ids.discard(None)
        phi_access_record(
            user=request.user,
            patient_ids=ids,
            action=action,
            resource=self.phi_resource_name(),
            request=request,
            object_id=object_id,
        )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and request.method == "GET":
            self.phi_log(request, [obj], action="admin_change", object_id=obj.pk)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        cl = (getattr(response, "context_data", None) or {}).get("cl")
        if cl is not None:
            self.phi_log(request, cl.result_list, action="admin_list")
        return response

    def _log_page_of(self, request, response, obj, action: str):
        if obj is not None and request.method == "GET" and response.status_code == 200:
            self.phi_log(request, [obj], action=action, object_id=obj.pk)
        return response

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

    def _ensure_in_scope(self, request, object_id):
        """Django checks delete permission before looking the row up (a 403 for any id); look
        it up through the scope first, so a row outside it is a 404 on every page. Returns the
        row (None when the caller may not read this page at all)."""
        if not self.has_view_or_change_permission(request):
            return None
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404("No such record.")
        return obj

    def delete_view(self, request, object_id, extra_context=None):
        obj = self._ensure_in_scope(request, object_id)
        response = super().delete_view(request, object_id, extra_context)
        return self._log_page_of(request, response, obj, "admin_delete")

    def history_view(self, request, object_id, extra_context=None):
        obj = self._ensure_in_scope(request, object_id)
        response = super().history_view(request, object_id, extra_context)
        return self._log_page_of(request, response, obj, "admin_history")

    def _may_read(self, request) -> bool:
        return is_staff_member(request.user)

    def _may_write(self, request) -> bool:
        user = request.user
        if is_clinic_admin(user):
            return True
        return self.clinician_can_write and is_clinician(user)

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
