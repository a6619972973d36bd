"""Emergency access ("break the glass"): a clinician outside a patient's care team opens the
record, with a reason, for ``BREAK_GLASS_MINUTES``.

Who may: an active clinician (surgeon, nurse, physical therapist) of the patient's own clinic
who is not on the patient's care team. Never across clinics, never a patient or a caregiver;
clinic admins and superusers see the clinic's patients already. The patient is named by their
medical record number, typed exactly: the page lists no one, so opening a record is a
deliberate act about one person.

What it leaves behind: the ``BreakGlassAccess`` row (who, whom, why, from when until when), a
PHI access row of action ``break_glass``, and after commit an e-mail to each clinic admin of
the clinic (the clinician and the MRN, no clinical content). While it lasts every read is
logged as any care-team read, and the patient sees those reads marked as emergency access in
their own access history (``GET /api/v1/me/access-log/``).
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from config.errors import Forbidden, Invalid, NotFound

from .audit import phi_access_record
from .emails import templated_mail_send
from .models import (
    BREAK_GLASS_MIN_REASON,
    BreakGlassAccess,
    CareTeamMembership,
    PatientProfile,
    Role,
    User,
)
from .roles import is_clinician


def break_glass_open(*, user: User, mrn: str, reason: str, request=None) -> BreakGlassAccess:
    """Opens the record of the patient of ``user``'s clinic with medical record number ``mrn``.
    An open access for the same patient is returned as it is (a double submit opens nothing
    twice)."""
    if not is_clinician(user) or not user.clinic_id:
        raise Forbidden(
            "Only a clinician of the patient's clinic may open a record in an emergency.",
            code="permission_denied",
        )
    reason = (reason or "").strip()
    if len(reason) < BREAK_GLASS_MIN_REASON:
        raise Invalid(
            f"Say why the record must be opened (at least {BREAK_GLASS_MIN_REASON} characters).",
            code="reason_required",
            attr="reason",
        )
    mrn = (mrn or "").strip()
    patient = (
        PatientProfile.objects.filter(clinic_id=user.clinic_id, mrn=mrn).first() if mrn else None
    )
    if patient is None:
        raise NotFound(
            "No patient of your clinic has this medical record number.",
            code="not_found",
            attr="mrn",
        )
    if CareTeamMembership.objects.filter(patient=patient, clinician=user).exists():
        raise Invalid(
            "You are on this patient's care team: open the record from the patient list.",
            code="already_care_team",
            attr="mrn",
        )
    now = timezone.now()
    with transaction.atomic():
        open_access = (
            BreakGlassAccess.objects.select_for_update()
            .filter(user=user, patient=patient, started_at__lte=now, expires_at__gt=now)
            .first()
        )
        if open_access is not None:
            return open_access
        access = BreakGlassAccess.objects.create(
            user=user,
            patient=patient,
            clinic_id=patient.clinic_id,
            reason=reason,
            started_at=now,
            expires_at=now + timedelta(minutes=settings.BREAK_GLASS_MINUTES),
        )
        phi_access_record(
            user=user,
            patient_ids=[patient.pk],
            action="break_glass",
            resource="record",
            request=request,
            object_id=access.pk,
        )
        _clinic_admins_tell_on_commit(access)
    return access


def _clinic_admins_tell_on_commit(access: BreakGlassAccess) -> None:
    admins = list(
        User.objects.filter(
            clinic_id=access.clinic_id, role=Role.CLINIC_ADMIN, is_active=True, is_staff=True
        ).values_list("email", flat=True)
    )
    context = {
        "clinician": access.user.full_name or access.user.email,
        "role": access.user.get_role_display(),
        "mrn": access.patient.mrn,
        "reason": access.reason,
        "started_at": access.started_at,
        "expires_at": access.expires_at,
        "link": settings.REALIGN_ADMIN_URL.rstrip("/")
        + reverse("admin:accounts_breakglassaccess_change", args=[access.pk]).removeprefix(
            "/admin"
        ),
    }
    for email in admins:
        transaction.on_commit(
            lambda to=email: templated_mail_send(name="break_glass", to=to, context=context),
            robust=True,
        )
