"""Caregivers in the admin: the care team sees the caregivers of their patients (scoped as every
patient row), grants access on a patient's behalf (the add page: e-mail, name, scopes, optional
end) and revokes it (the "Revoke" action). Nothing is edited in place: every grant, change and
revocation goes through ``accounts.caregivers`` and is kept in the grant's history (shown on
its page). Caregivers themselves never sign into the admin (``accounts.roles.is_staff_member``).
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction

from config.errors import DomainError

from .admin_scoping import ScopedAdmin
from .caregivers import caregiver_grant_revoke, caregiver_invite
from .models import CaregiverGrant, CaregiverGrantEvent, CaregiverScope
from .roles import is_staff_member
from .selectors import patients_for


class CaregiverGrantEventInline(admin.TabularInline):
    model = CaregiverGrantEvent
    fields = ["at", "action", "actor", "scopes", "expires_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return is_staff_member(request.user)  # the grant's page is scoped already


class CaregiverInviteForm(forms.ModelForm):
    email = forms.EmailField(help_text="The caregiver's own address (not the patient's).")
    name = forms.CharField(max_length=200)
    scope_choices = forms.MultipleChoiceField(
        label="Scopes",
        choices=CaregiverScope.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="Reminders are not yet delivered to caregivers.",
    )

    actor = None  # the signed-in staff member (``CaregiverGrantAdmin.get_form``)
    grant = None

    class Meta:
        model = CaregiverGrant
        fields = ["patient", "expires_at"]

    def clean(self):
        """Grants through the service (inside the admin's transaction, in a savepoint): what it
        refuses is the form's error, and nothing is written."""
        data = super().clean()
        if self.errors:
            return data
        first, _, last = data["name"].strip().partition(" ")
        try:
            with transaction.atomic():
                self.grant, _ = caregiver_invite(
                    patient=data["patient"],
                    actor=self.actor,
                    email=data["email"],
                    first_name=first,
                    last_name=last.strip(),
                    scopes=data["scope_choices"],
                    expires_at=data.get("expires_at"),
                )
        except DomainError as exc:
            raise ValidationError(exc.detail, code=exc.code) from exc
        return data


@admin.register(CaregiverGrant)
class CaregiverGrantAdmin(ScopedAdmin):
    list_display = ["caregiver", "email", "patient", "scopes", "status", "expires_at", "created_at"]
    list_select_related = ["caregiver", "patient__user"]
    list_filter = ["revoked_at"]
    search_fields = ["caregiver__email", "caregiver__last_name", "patient__user__last_name"]
    ordering = ["-created_at", "-pk"]
    inlines = [CaregiverGrantEventInline]
    autocomplete_fields = ["patient"]
    actions = ["revoke"]

    @admin.display(ordering="caregiver__email")
    def email(self, grant) -> str:
        return grant.caregiver.email

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = type(
                "CaregiverInviteForm", (CaregiverInviteForm,), {"actor": request.user}
            )
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [
            "patient",
            "caregiver",
            "scopes",
            "expires_at",
            "created_at",
            "created_by",
            "revoked_at",
            "revoked_by",
            "accepted_at",
        ]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["patient", "email", "name", "scope_choices", "expires_at"]
        return self.get_readonly_fields(request, obj)

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the grant and its history stay

    def get_inline_instances(self, request, obj=None):
        return super().get_inline_instances(request, obj) if obj is not None else []

    def save_model(self, request, obj, form, change):
        # The form's clean() granted through the service: the page shows that grant.
        obj.pk = form.grant.pk
        obj.patient = form.grant.patient
        obj.caregiver = form.grant.caregiver

    def save_related(self, request, form, formsets, change):
        pass  # the service wrote everything

    def log_addition(self, request, obj, message):
        pass  # the grant's own history says who granted it

    @admin.action(description="Revoke the selected caregivers' access")
    def revoke(self, request, queryset):
        count = 0
        for grant in queryset.filter(patient__in=patients_for(request.user).values("pk")):
            if grant.revoked_at is None:
                caregiver_grant_revoke(grant=grant, actor=request.user)
                count += 1
        self.message_user(request, f"Revoked {count} caregiver access(es).", messages.SUCCESS)
