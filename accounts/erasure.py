"""Account deletion: the patient asks, a clinic admin of their clinic confirms.

The rules (docs/api.md, "Deleting the account"; docs/admin.md):

- ``erasure_request``: the patient asks (again: the same open request). They may withdraw it
  until it is confirmed (``erasure_cancel``).
- ``erasure_confirm`` (clinic admin of the patient's clinic, or a superuser): in ONE
  transaction, so a failure midway leaves everything as it was, the account's personal data is
  erased: sign-in disabled, password unusable, e-mail address replaced by a placeholder, phone
  and reminder preferences cleared, every refresh token blacklisted (access tokens die with the
  inactive account), sign-in attempts of the address deleted, open invitations revoked and
  their address replaced; then every ``settings.PATIENT_ERASED_HOOKS`` function runs with
  ``profile`` (reminders: devices deleted, open reminders cancelled, inbox emptied).
- The clinical record (every clinical row, alerts, outcome scores, the PHI access log) is kept
  with the identity it needs (name, date of birth, MRN) until ``retain_until``: the day
  ``CLINICAL_RECORD_RETENTION_YEARS`` after confirmation (the clinic's retention policy; 0
  de-identifies at once). ``erasure_deidentify_due`` (daily beat task) then replaces the name,
  keeps only the year of birth and clears the MRN.
"""

from datetime import date

from axes.models import AccessAttempt
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from config.errors import Conflict, Forbidden, NotFound

from .models import ErasureRequest, Invitation, PatientProfile, User
from .roles import is_clinic_admin, is_staff_member
from .services import refresh_tokens_revoke

ERASED_EMAIL_DOMAIN = "erased.invalid"  # RFC 2606: never a real address


def erasure_request(*, user: User) -> tuple[ErasureRequest, bool]:
    """The patient's open request, created if there is none. Returns it and whether it is new."""
    profile = own_profile(user)
    with transaction.atomic():
        PatientProfile.objects.select_for_update().filter(pk=profile.pk).first()
        open_request = _open_for(profile).first()
        if open_request is not None:
            return open_request, False
        return ErasureRequest.objects.create(patient=profile), True


def erasure_cancel(*, user: User) -> ErasureRequest:
    profile = own_profile(user)
    with transaction.atomic():
        request = _open_for(profile).select_for_update().first()
        if request is None:
            raise NotFound("You have no open request to delete your account.", code="not_found")
        request.cancelled_at = timezone.now()
        request.save(update_fields=["cancelled_at"])
    return request


def erasure_confirm(*, actor: User, request_id: int) -> ErasureRequest:
    with transaction.atomic():
        request = (
            ErasureRequest.objects.select_for_update(of=("self",))
            .select_related("patient__user")
            .filter(pk=request_id)
            .first()
        )
        if request is None or not _may_confirm(actor, request.patient):
            raise NotFound("No such deletion request.", code="not_found")
        if request.cancelled_at or request.confirmed_at:
            raise Conflict(f"This deletion request is {request.status} already.", code="not_open")
        now = timezone.now()
        profile = request.patient
        _account_erase(profile, now)
        for path in getattr(settings, "PATIENT_ERASED_HOOKS", ()):
            import_string(path)(profile=profile)
        request.confirmed_at, request.confirmed_by = now, actor
        request.retain_until = _years_after(
            timezone.localdate(now), settings.CLINICAL_RECORD_RETENTION_YEARS
        )
        request.save(update_fields=["confirmed_at", "confirmed_by", "retain_until"])
        if request.retain_until <= timezone.localdate(now):
            _deidentify(request, now)
    return request


def erasure_deidentify_due(*, today: date | None = None) -> int:
    """De-identifies every erased patient whose retention has ended. Returns how many."""
    today = today or timezone.localdate()
    done = 0
    due = ErasureRequest.objects.filter(
        confirmed_at__isnull=False, deidentified_at__isnull=True, retain_until__lte=today
    ).values_list("pk", flat=True)
    for pk in list(due):
        with transaction.atomic():
            request = (
                ErasureRequest.objects.select_for_update(of=("self",))
                .select_related("patient__user")
                .filter(pk=pk, deidentified_at__isnull=True)
                .first()
            )
            if request is not None:
                _deidentify(request, timezone.now())
                done += 1
    return done


# --- the steps --------------------------------------------------------------------------------


def _account_erase(profile: PatientProfile, now) -> None:
    user = profile.user
    old_email = user.email
    user.email = f"erased-{user.pk}@{ERASED_EMAIL_DOMAIN}"
    user.is_active = False
    user.set_unusable_password()
    user.save(update_fields=["email", "is_active", "password"])
    refresh_tokens_revoke(user=user)
    AccessAttempt.objects.filter(username__iexact=old_email).delete()
    Invitation.objects.filter(
        patient=profile, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=now)
    Invitation.objects.filter(patient=profile).update(email=user.email)
    profile.phone = ""
    profile.push_enabled = profile.email_enabled = profile.inbox_enabled = False
    profile.checkin_time = None
    profile.save(
        update_fields=[
            "phone",
            "push_enabled",
            "email_enabled",
            "inbox_enabled",
            "checkin_time",
            "updated_at",
        ]
    )


def _deidentify(request: ErasureRequest, now) -> None:
    profile = request.patient
    user = profile.user
    user.first_name, user.last_name = "Erased", "patient"
    user.save(update_fields=["first_name", "last_name"])
    profile.date_of_birth = profile.date_of_birth.replace(month=1, day=1)
    profile.mrn = ""
    profile.save(update_fields=["date_of_birth", "mrn", "updated_at"])
    request.deidentified_at = now
    request.save(update_fields=["deidentified_at"])


def _open_for(profile: PatientProfile):
    return ErasureRequest.objects.filter(
        patient=profile, confirmed_at__isnull=True, cancelled_at__isnull=True
    )


def own_profile(user: User) -> PatientProfile:
    profile = getattr(user, "patient_profile", None) if user.is_patient else None
    if profile is None:
        raise Forbidden("Only patients have an account to delete here.", code="permission_denied")
    return profile


def _may_confirm(actor: User, patient: PatientProfile) -> bool:
    if is_staff_member(actor) and actor.is_superuser:
        return True
    return is_clinic_admin(actor) and actor.clinic_id == patient.clinic_id


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)
