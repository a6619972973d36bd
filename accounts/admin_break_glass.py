"""Emergency access in the admin: the "open a record in an emergency" page for clinicians
outside a patient's care team, and the read-only list of emergency accesses (a clinician sees
their own, a clinic admin the clinic's). The rules are ``accounts.break_glass``."""

from django import forms
from django.contrib import admin, messages
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from config.errors import DomainError

from .break_glass import break_glass_open
from .models import BREAK_GLASS_MIN_REASON, BreakGlassAccess
from .roles import is_clinic_admin, is_clinician, is_staff_member


class BreakGlassForm(forms.Form):
    mrn = forms.CharField(label="Medical record number", max_length=64)
    reason = forms.CharField(
        label="Reason",
        min_length=BREAK_GLASS_MIN_REASON,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Why you must open this record now. The clinic's admins are told.",
    )


@admin.register(BreakGlassAccess)
class BreakGlassAccessAdmin(admin.ModelAdmin):
    list_display = ["started_at", "expires_at", "user", "patient", "reason"]
    list_select_related = ["user", "patient__user"]
    ordering = ["-started_at", "-pk"]
    readonly_fields = [f.name for f in BreakGlassAccess._meta.fields]
    change_list_template = "admin/accounts/breakglassaccess/change_list.html"

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        user = request.user
        if user.is_superuser:
            return qs
        if is_clinic_admin(user) and user.clinic_id:
            return qs.filter(clinic_id=user.clinic_id)
        return qs.filter(user=user)

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        raise Http404("No such record.")

    def has_module_permission(self, request):
        return is_staff_member(request.user)

    def has_view_permission(self, request, obj=None):
        return is_staff_member(request.user)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        extra = {"may_open": is_clinician(request.user), **(extra_context or {})}
        return super().changelist_view(request, extra)

    def get_urls(self):
        return [
            path(
                "open/",
                self.admin_site.admin_view(self.open_view),
                name="accounts_breakglassaccess_open",
            ),
            *super().get_urls(),
        ]

    def open_view(self, request):
        if not is_clinician(request.user):
            raise Http404("Only clinicians open a record in an emergency.")
        form = BreakGlassForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                access = break_glass_open(
                    user=request.user,
                    mrn=form.cleaned_data["mrn"],
                    reason=form.cleaned_data["reason"],
                    request=request,
                )
            except DomainError as exc:
                form.add_error(exc.attr if exc.attr in form.fields else None, exc.detail)
            else:
                until = timezone.localtime(access.expires_at).strftime("%H:%M %Z")
                messages.warning(
                    request,
                    f"Emergency access to this record until {until}. Every page you open is "
                    "logged and the clinic's admins are told.",
                )
                return redirect(
                    reverse("admin:recovery_patient_timeline", args=[access.patient_id])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": "Open a record in an emergency",
            "opts": self.model._meta,
            "form": form,
        }
        return TemplateResponse(request, "admin/accounts/breakglassaccess/open.html", context)
