"""Onboarding patients from the admin: "Invite a patient", the invitation list with its status,
and the resend and revoke actions.

Clinic admins and surgeons invite (``accounts.roles.may_invite_patients``) into their own clinic:
the surgeon and care-team pickers list only their clinic's active clinicians, and a value from
elsewhere is refused by the form (and again by the service). The list, change, history, resend
and revoke pages look invitations up through the caller's scope (``ScopedAdmin``: the
invitations of the patients they may see), so another clinic's invitation is a 404. Every write
goes through ``accounts.services`` (``patient_invite``, ``invitation_resend``,
``invitation_revoke``), the same functions the API and ``manage.py invite_patient`` call.
"""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from config.errors import DomainError

from . import services
from .admin_scoping import ScopedAdmin
from .models import Invitation, InvitationStatus, Role, phone_validator, time_zone_names
from .roles import is_staff_member, may_invite_patients, may_manage_invitation
from .selectors import clinic_staff_for_invitation, clinicians_for_invitation, invitation_status_q


def add_service_errors(form, exc: Exception) -> None:
    """A service's refusal on the form: on the field it names, else above the form."""
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    elif isinstance(exc, DomainError):
        form.add_error(exc.attr if exc.attr in form.fields else None, str(exc.detail))
    else:
        form.add_error(None, exc)


def refusal_text(exc: Exception) -> str:
    if isinstance(exc, DomainError):
        return exc.detail
    return "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)


class InviteForm(forms.Form):
    email = forms.EmailField(help_text="The link to activate the account goes here.")
    first_name = forms.CharField(max_length=100)
    last_name = forms.CharField(max_length=100)
    date_of_birth = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    time_zone = forms.ChoiceField(
        help_text="Where the patient lives: reminders are planned in local time."
    )
    phone = forms.CharField(
        label="Phone number", max_length=40, required=False, validators=[phone_validator]
    )
    mrn = forms.CharField(label="Medical record number", max_length=64, required=False)
    surgeon = forms.ModelChoiceField(
        queryset=None, required=False, label="Surgeon of record", empty_label="(none yet)"
    )
    care_team = forms.ModelMultipleChoiceField(
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Clinicians who follow this patient (the surgeon of record always does).",
    )

    def __init__(self, *args, inviter, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [(z, z) for z in sorted(time_zone_names())]
        self.fields["time_zone"].initial = inviter.clinic.time_zone
        surgeons = clinic_staff_for_invitation(inviter, roles=(Role.SURGEON,))
        self.fields["surgeon"].queryset = surgeons
        self.fields["care_team"].queryset = clinicians_for_invitation(inviter)
        if inviter.role == Role.SURGEON:
            self.fields["surgeon"].initial = inviter.pk

    def invite_values(self) -> dict:
        values = dict(self.cleaned_data)
        values["care_team"] = tuple(values["care_team"])
        return values


class InvitationStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return InvitationStatus.choices

    def queryset(self, request, queryset):
        if self.value() in InvitationStatus.values:
            return queryset.filter(invitation_status_q(self.value()))
        return queryset


@admin.register(Invitation)
class InvitationAdmin(ScopedAdmin):
    phi_resource = "invitations"
    list_display = [
        "email",
        "patient",
        "status_label",
        "surgeon",
        "created_by",
        "sent_at",
        "send_count",
        "expires_at",
        "accepted_at",
    ]
    list_select_related = ["patient__user", "patient__surgeon", "created_by"]
    list_filter = [InvitationStatusFilter]
    search_fields = ["email", "patient__user__first_name", "patient__user__last_name"]
    ordering = ["-created_at", "-pk"]
    readonly_fields = [
        "clinic",
        "patient",
        "email",
        "status_label",
        "created_by",
        "created_at",
        "sent_at",
        "send_count",
        "expires_at",
        "accepted_at",
        "revoked_at",
        "revoked_by",
    ]
    fields = readonly_fields
    actions = ["resend_selected", "revoke_selected"]
    change_form_template = "admin/accounts/invitation/change_form.html"

    @admin.display(description="status")
    def status_label(self, obj) -> str:
        return InvitationStatus(obj.status()).label

    @admin.display(description="surgeon")
    def surgeon(self, obj):
        return obj.patient.surgeon or "-"

    # --- permissions: staff in scope read; clinic admins and surgeons invite and manage

    def has_add_permission(self, request):
        return may_invite_patients(request.user)

    def has_change_permission(self, request, obj=None):
        return False  # what was sent is a record; resend or revoke instead

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser and is_staff_member(request.user)

    def has_manage_permission(self, request, obj=None) -> bool:
        if obj is not None:
            return may_manage_invitation(request.user, obj)
        user = request.user
        return may_invite_patients(user) or (is_staff_member(user) and user.is_superuser)

    # --- the invite form

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = InviteForm(request.POST or None, inviter=request.user)
        if request.method == "POST" and form.is_valid():
            try:
                invitation, _ = services.patient_invite(
                    clinic=request.user.clinic, invited_by=request.user, **form.invite_values()
                )
            except (ValidationError, DomainError) as exc:
                add_service_errors(form, exc)
            else:
                self.message_user(
                    request,
                    f"Invitation sent to {invitation.email}; the link works until "
                    f"{invitation.expires_at:%Y-%m-%d %H:%M} UTC.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:accounts_invitation_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Invite a patient",
            "subtitle": None,
            "form": form,
            "opts": self.model._meta,
            "clinic": request.user.clinic,
            "ttl_days": settings.INVITATION_TTL.days,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/accounts/invitation/invite.html", context)

    # --- resend and revoke: bulk actions and buttons on the invitation's page

    def _run(self, request, invitations, verb: str, call) -> None:
        done, refused = 0, []
        for invitation in invitations:
            try:
                with transaction.atomic():
                    call(invitation)
                done += 1
            except (ValidationError, DomainError) as exc:
                refused.append(f"{invitation.email}: {refusal_text(exc)}")
        if done:
            self.message_user(request, f"{verb}: {done}.", messages.SUCCESS)
        for line in refused:
            self.message_user(request, f"Not {verb.lower()}: {line}", messages.ERROR)

    @admin.action(description="Resend the invitation (new link)", permissions=["manage"])
    def resend_selected(self, request, queryset):
        self._run(
            request,
            queryset,
            "Resent",
            lambda inv: services.invitation_resend(invitation=inv, actor=request.user),
        )

    @admin.action(description="Revoke the invitation", permissions=["manage"])
    def revoke_selected(self, request, queryset):
        self._run(
            request,
            queryset,
            "Revoked",
            lambda inv: services.invitation_revoke(invitation=inv, actor=request.user),
        )

    def get_urls(self):
        def wrap(view):
            return self.admin_site.admin_view(view)

        return [
            path(
                "<path:object_id>/resend/",
                wrap(self.resend_view),
                name="accounts_invitation_resend",
            ),
            path(
                "<path:object_id>/revoke/",
                wrap(self.revoke_view),
                name="accounts_invitation_revoke",
            ),
            *super().get_urls(),
        ]

    def _one(self, request, object_id):
        if request.method != "POST":
            return None, HttpResponseNotAllowed(["POST"])
        invitation = self._ensure_in_scope(request, object_id)
        if invitation is None:
            raise PermissionDenied
        if not self.has_manage_permission(request, invitation):
            raise PermissionDenied
        return invitation, None

    def resend_view(self, request, object_id):
        invitation, refusal = self._one(request, object_id)
        if refusal is not None:
            return refusal
        self.resend_selected(request, [invitation])
        return HttpResponseRedirect(
            reverse("admin:accounts_invitation_change", args=[invitation.pk])
        )

    def revoke_view(self, request, object_id):
        invitation, refusal = self._one(request, object_id)
        if refusal is not None:
            return refusal
        self.revoke_selected(request, [invitation])
        return HttpResponseRedirect(
            reverse("admin:accounts_invitation_change", args=[invitation.pk])
        )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["may_manage"] = self.has_manage_permission(request, obj)
            context["invitation_status"] = obj.status()
        return super().render_change_form(request, context, add, change, form_url, obj)
