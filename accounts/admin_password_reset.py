""" "Forgot password?" on the admin login page: Django's own password reset views, for staff.

Django's admin login shows the link once a URL named ``admin_password_reset`` exists
(``accounts/templates/admin/realign_login.html`` keeps the link in the Realign login form);
``config/urls.py`` includes these URLs under ``/admin/``. What differs from Django's defaults:

- the e-mail goes only to staff members (``accounts.roles.is_staff_member``); for anyone else,
  patients included (they reset in the app, ``POST /api/v1/auth/password/reset/``), and for an
  unknown address the page answers the same "check your e-mail", so it reveals no account;
- the requests are rate-limited per client address with the API's ``password_reset`` rate
  (the same counter: DRF's throttle cache key), 429 beyond it;
- the new password is set through ``accounts.services.user_set_password``: Django's password
  validators, and every API token of the account revoked.
"""

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordResetForm, SetPasswordForm
from django.urls import path, reverse_lazy
from rest_framework.throttling import SimpleRateThrottle

from .client_address import client_ip
from .roles import is_staff_member
from .services import user_set_password


class AdminPasswordResetThrottle(SimpleRateThrottle):
    scope = "password_reset"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request) or ""}


class StaffPasswordResetForm(PasswordResetForm):
    def get_users(self, email):
        return (user for user in super().get_users(email) if is_staff_member(user))


class StaffSetPasswordForm(SetPasswordForm):
    def save(self, commit=True):
        user_set_password(user=self.user, password=self.cleaned_data["new_password1"])
        return self.user


def _admin_context() -> dict:
    site = admin.site
    return {"site_header": site.site_header, "site_title": site.site_title, "has_permission": False}


class AdminPasswordResetView(auth_views.PasswordResetView):
    form_class = StaffPasswordResetForm
    email_template_name = "accounts/email/staff_password_reset.txt"
    subject_template_name = "accounts/email/staff_password_reset_subject.txt"
    success_url = reverse_lazy("password_reset_done")

    def get_extra_email_context(self) -> dict:
        return {"valid_hours": settings.PASSWORD_RESET_TIMEOUT // 3600}

    def form_valid(self, form):
        self.extra_email_context = self.get_extra_email_context()
        return super().form_valid(form)

    def post(self, request, *args, **kwargs):
        if not AdminPasswordResetThrottle().allow_request(request, self):
            form = self.get_form()
            form.is_valid()
            form.add_error(
                "email" if "email" in form.fields else None,
                "Too many password reset requests from this address; try again in a minute.",
            )
            response = self.form_invalid(form)
            response.status_code = 429
            return response
        return super().post(request, *args, **kwargs)


class AdminPasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    form_class = StaffSetPasswordForm
    success_url = reverse_lazy("password_reset_complete")


urlpatterns = [
    path(
        "password-reset/",
        AdminPasswordResetView.as_view(extra_context=_admin_context()),
        name="admin_password_reset",
    ),
    path(
        "password-reset/done/",
        auth_views.PasswordResetDoneView.as_view(extra_context=_admin_context()),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        AdminPasswordResetConfirmView.as_view(extra_context=_admin_context()),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(extra_context=_admin_context()),
        name="password_reset_complete",
    ),
]
