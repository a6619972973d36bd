"""The clinic admin's webhook pages: endpoints (register, change, rotate the secret) and the
deliveries with their log of attempts (resend). Clinic admins only, each seeing only their
clinic's rows: another clinic's endpoint or delivery is a 404. Writes go through the services;
a new or rotated secret is shown once, in the answer to the request that made it (never stored
in a message or the session)."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts.roles import is_clinic_admin
from config.errors import DomainError
from recovery.record.admin import add_service_errors, refusal_text

from .models import EventType, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .services import (
    webhook_delivery_resend,
    webhook_endpoint_create,
    webhook_endpoint_update,
    webhook_secret_rotate,
)


class ClinicAdminOnly(admin.ModelAdmin):
    """Clinic admins (and superusers) of the rows' clinic only: ``clinic_path`` leads to it."""

    clinic_path = "clinic"

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(**{f"{self.clinic_path}_id": request.user.clinic_id})

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        raise Http404("No such record.")  # another clinic's row is as if it did not exist

    def has_module_permission(self, request):
        return is_clinic_admin(request.user)

    has_view_permission = has_change_permission = has_delete_permission = (
        lambda self, request, obj=None: is_clinic_admin(request.user)
    )

    def has_add_permission(self, request):
        return is_clinic_admin(request.user)


class EndpointForm(forms.ModelForm):
    url = forms.URLField(
        max_length=2000, assume_scheme="https", help_text="https://... (receives POST requests)"
    )
    event_types = forms.MultipleChoiceField(
        choices=EventType.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="The events sent to this endpoint.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "event_types", "is_active"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ClinicAdminOnly):
    form = EndpointForm
    list_display = ["url", "description", "is_active", "consecutive_failures", "disabled_at"]
    list_filter = ["is_active"]
    search_fields = ["url", "description"]
    readonly_fields = [
        "clinic",
        "secret_hint",
        "consecutive_failures",
        "disabled_at",
        "disabled_reason",
        "created_at",
        "created_by",
        "deliveries_link",
    ]
    actions = ["rotate_secret"]

    def get_fields(self, request, obj=None):
        editable = ["url", "description", "event_types", "is_active"]
        return editable if obj is None else [*editable, *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    @admin.display(description="secret")
    def secret_hint(self, obj):
        return f"whsec_…{obj.secret[-4:]} (shown once; rotate for a new one)"

    @admin.display(description="deliveries")
    def deliveries_link(self, obj):
        url = reverse("admin:recovery_webhookdelivery_changelist")
        return format_html('<a href="{}?endpoint__id__exact={}">Delivery log</a>', url, obj.pk)

    def get_form(self, request, obj=None, change=False, **kwargs):
        base = super().get_form(request, obj, change=change, **kwargs)

        class ServiceForm(base):
            def _post_clean(self):
                super()._post_clean()
                if self.errors or request.method != "POST":
                    return
                values = {
                    k: self.cleaned_data[k] for k in base._meta.fields if k in self.cleaned_data
                }
                try:
                    with transaction.atomic():
                        if change:
                            self.instance = webhook_endpoint_update(
                                actor=request.user, endpoint=self.instance, **values
                            )
                        else:
                            clinic_id = request.user.clinic_id
                            self.instance, request._webhook_secret = webhook_endpoint_create(
                                actor=request.user, clinic_id=clinic_id, **values
                            )
                except (ValidationError, DomainError) as exc:
                    add_service_errors(self, exc)

        return ServiceForm

    def save_model(self, request, obj, form, change):
        """Nothing left to do: the service wrote the row while the form validated."""

    def save_related(self, request, form, formsets, change):
        """No inlines or many-to-many fields."""

    def _secret_page(self, request, pairs, *, rotated: bool):
        response = TemplateResponse(
            request,
            "admin/recovery/webhookendpoint/secret.html",
            {
                **self.admin_site.each_context(request),
                "title": "Webhook signing secret",
                "secrets": pairs,
                "rotated": rotated,
                "grace_until": timezone.now()
                + timezone.timedelta(seconds=settings.WEBHOOK_SECRET_ROTATION_GRACE_SECONDS),
                "continue_url": reverse("admin:recovery_webhookendpoint_changelist"),
                "opts": self.model._meta,
            },
        )
        response["Cache-Control"] = "no-store"
        return response

    def response_add(self, request, obj, post_url_continue=None):
        secret = getattr(request, "_webhook_secret", None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        return self._secret_page(request, [(obj, secret)], rotated=False)

    @admin.action(description="Rotate the signing secret of the selected endpoints")
    def rotate_secret(self, request, queryset):
        pairs = []
        for endpoint in queryset:
            try:
                pairs.append(
                    (endpoint, webhook_secret_rotate(actor=request.user, endpoint=endpoint))
                )
            except DomainError as exc:
                self.message_user(request, f"Not rotated: {refusal_text(exc)}", messages.ERROR)
        if not pairs:
            return None
        return self._secret_page(request, pairs, rotated=True)


class AttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = readonly_fields = ["attempted_at", "status_code", "duration_ms", "error", "succeeded"]
    extra = 0
    can_delete = False
    ordering = ["-attempted_at"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return is_clinic_admin(request.user)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ClinicAdminOnly):
    """The delivery log: every event sent to each endpoint, its state and each attempt."""

    clinic_path = "endpoint__clinic"
    list_display = [
        "created_at",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "next_attempt_at",
        "delivered_at",
    ]
    list_filter = ["status", "event__type", "endpoint"]
    list_select_related = ["event", "endpoint"]
    ordering = ["-created_at"]
    fields = readonly_fields = [
        "event_id",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "next_attempt_at",
        "delivered_at",
        "last_status_code",
        "last_error",
        "body",
    ]
    inlines = [AttemptInline]
    actions = ["resend"]

    @admin.display(description="event", ordering="event__type")
    def event_type(self, obj):
        return obj.event.type

    @admin.display(description="body (ids and kinds only)")
    def body(self, obj):
        return format_html("<code>{}</code>", obj.event.body)

    def get_list_filter(self, request):
        return ["status", "event__type"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_resend_permission(self, request):
        return is_clinic_admin(request.user)

    @admin.action(description="Resend the selected deliveries", permissions=["resend"])
    def resend(self, request, queryset):
        done = 0
        for delivery in queryset:
            try:
                webhook_delivery_resend(actor=request.user, delivery=delivery)
                done += 1
            except (DomainError, ValidationError) as exc:
                self.message_user(request, f"Not resent: {refusal_text(exc)}", messages.ERROR)
        if done:
            self.message_user(request, f"Resent: {done}.", messages.SUCCESS)
