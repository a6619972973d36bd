"""Two-factor sign-in to the admin with a TOTP app (django-otp).

- A staff member who has a confirmed authenticator device must give its current code with their
  password on the admin login page (``AdminLoginForm``).
- A clinic can make it mandatory (``Clinic.require_two_factor``): its staff without a confirmed
  device are sent to the enrolment page (``enrol_view``) after the password step and see no other
  admin page until they have scanned the QR code (or typed the otpauth URI) and confirmed a code.
- The admin site counts a session as signed in only when it is verified by a device, for anyone
  for whom a second factor applies (``second_factor_satisfied``).
- The API's sign-in (``POST /api/v1/auth/token/``) asks the same: the current code (``otp``) from
  a user with a device, and no tokens for staff of such a clinic until they have enrolled one in
  the admin (``api_second_factor_check``).

Wrong codes count as failed logins for django-axes (the same lockout as wrong passwords) and
django-otp throttles the device on top of that.
"""

import io

from django import forms
from django.contrib import messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from config.errors import Forbidden, Unauthenticated

from .models import Role
from .roles import is_staff_member

DEVICE_NAME = "Authenticator app"


# --- reads -------------------------------------------------------------------------------------


def confirmed_device_for(user) -> TOTPDevice | None:
    if not user.is_authenticated:
        return None
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def two_factor_required(user) -> bool:
    """The user's clinic makes two-factor sign-in mandatory for its staff."""
    return bool(user.is_authenticated and user.clinic_id and user.clinic.require_two_factor)


def second_factor_satisfied(request) -> bool:
    """True when the session needs no second factor or has been verified by a device.
    A second factor applies when the clinic requires it or the user has enrolled a device."""
    user = request.user
    cached = getattr(request, "_realign_second_factor", None)
    if cached is not None:
        return cached
    if getattr(user, "is_verified", lambda: False)():
        ok = True
    else:
        ok = not two_factor_required(user) and confirmed_device_for(user) is None
    request._realign_second_factor = ok
    return ok


def api_second_factor_check(*, request, user, email: str, token: str) -> None:
    """The second factor of an API sign-in, after the password: raises ``DomainError``
    (401 ``otp_required`` / ``otp_invalid``, 403 ``two_factor_enrolment_required``) or passes."""
    device = confirmed_device_for(user)
    if device is None:
        if user.role != Role.PATIENT and two_factor_required(user):
            raise Forbidden(
                "Your clinic requires two-factor sign-in: set up an authenticator app in the "
                "admin (/admin/two-factor/) first.",
                code="two_factor_enrolment_required",
            )
        return
    if not token:
        raise Unauthenticated(
            "Enter the 6-digit code from your authenticator app.",
            code="otp_required",
            attr="otp",
        )
    allowed, _ = device.verify_is_allowed()
    if not allowed or not device.verify_token(token):
        # A wrong code is a failed sign-in: django-axes counts it toward the lockout.
        user_login_failed.send(sender=__name__, credentials={"email": email}, request=request)
        raise Unauthenticated(
            "That code is not right (or too many wrong codes: wait and retry).",
            code="otp_invalid",
            attr="otp",
        )


# --- writes ------------------------------------------------------------------------------------


@transaction.atomic
def totp_device_start(*, user) -> TOTPDevice:
    """The unconfirmed device an enrolment shows (kept across reloads of the page)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


@transaction.atomic
def totp_device_confirm(*, device: TOTPDevice, token: str) -> TOTPDevice:
    """Confirms the device with a code from the app; other unconfirmed devices are removed."""
    allowed, _ = device.verify_is_allowed()
    if not allowed:
        raise ValidationError(
            "Too many wrong codes. Wait a little and try again.", code="throttled"
        )
    if not device.verify_token(token):
        raise ValidationError(
            "That code is not right. Check the app and try again.", code="invalid_token"
        )
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=device.user, confirmed=False).delete()
    return device


# --- login form --------------------------------------------------------------------------------


class AdminLoginForm(AdminAuthenticationForm):
    """Password, then the authenticator code when the user has a device."""

    otp_token = forms.CharField(
        label="Authenticator code",
        required=False,
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
        help_text="Only if you have set up two-factor sign-in.",
    )

    def clean(self):
        cleaned = super().clean()
        user = self.get_user()
        if user is None:
            return cleaned
        device = confirmed_device_for(user)
        if device is None:
            return cleaned
        token = (cleaned.get("otp_token") or "").strip()
        if not token:
            raise ValidationError(
                "Enter the 6-digit code from your authenticator app.", code="token_required"
            )
        allowed, _ = device.verify_is_allowed()
        if not allowed or not device.verify_token(token):
            # A wrong code is a failed login: django-axes counts it toward the lockout.
            user_login_failed.send(
                sender=__name__,
                credentials={"username": cleaned.get("username")},
                request=self.request,
            )
            raise ValidationError(
                "That code is not right (or too many wrong codes: wait and retry).",
                code="invalid_token",
            )
        user.otp_device = device  # django-otp's login signal stores it in the session
        return cleaned


# --- enrolment page ----------------------------------------------------------------------------


class EnrolForm(forms.Form):
    token = forms.CharField(
        label="Code from the app",
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


def qr_svg(data: str) -> str:
    import qrcode
    import qrcode.image.svg

    out = io.BytesIO()
    qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage).save(out)
    svg = out.getvalue().decode()
    return svg[svg.find("<svg") :]


def enrol_view(request, admin_site):
    """Set up an authenticator app: shows the QR code and otpauth URI, checks one code."""

    user = request.user
    if not is_staff_member(user):
        return redirect(f"{reverse('admin:login')}?next={request.path}")
    next_url = request.POST.get("next") or request.GET.get("next") or reverse("admin:index")
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        next_url = reverse("admin:index")
    confirmed = confirmed_device_for(user)
    if confirmed is not None:
        if user.is_verified():
            messages.info(request, "Two-factor sign-in is already set up.")
            return redirect(next_url)
        # Has a device but this session was not verified by it: sign in again with the code.
        return redirect(f"{reverse('admin:login')}?next={next_url}")
    device = totp_device_start(user=user)
    form = EnrolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            totp_device_confirm(device=device, token=form.cleaned_data["token"])
        except ValidationError as exc:
            form.add_error("token", exc)
        else:
            otp_login(request, device)
            messages.success(request, "Two-factor sign-in is set up.")
            return redirect(next_url)
    context = {
        **admin_site.each_context(request),
        "title": "Set up two-factor sign-in",
        "form": form,
        "otpauth_url": device.config_url,
        "secret": device.config_url.split("secret=")[1].split("&")[0],
        "qr": mark_safe(qr_svg(device.config_url)),  # noqa: S308 - generated by qrcode
        "required": two_factor_required(user),
        "next": next_url,
    }
    return TemplateResponse(request, "admin/two_factor_enrol.html", context)
