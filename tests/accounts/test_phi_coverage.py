"""Every page and endpoint that shows a clinician a patient's data writes the PHI access log.

The test walks every registered admin page (changelist, change, history, delete and add of each
``ModelAdmin``, the patient timeline, the patient autocomplete) and every operation of the
OpenAPI schema as a care-team surgeon, with one patient whose record holds a row of every kind,
and asserts a ``PHIAccess`` row naming that patient for the request's path. Pages and endpoints
that show no patient data are listed in ``ADMIN_EXEMPT`` / ``API_EXEMPT`` with the reason; for
those the test checks the reason where it can (the answer names no patient). A new page or
endpoint that is in neither place fails here.

A patient reading their own record is not logged (``accounts/audit.py``), so only staff reads
are walked; ``tests/accounts/test_audit.py`` covers the patient side.
"""

import re
from datetime import date, timedelta

import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from accounts import services as account_services
from accounts.admin_scoping import ScopedAdmin
from accounts.models import ErasureRequest, PHIAccess
from recovery.api.views import API_KINDS
from recovery.care.models import Alert, Protocol
from recovery.care.protocols import protocol_apply
from reminders import services as reminder_services
from tests.accounts.helpers import caregiver_of
from tests.conftest import client_for
from tests.factories import make_record

pytestmark = pytest.mark.django_db

# --- what is exempt, and why --------------------------------------------------------------------

SUPERUSER_ONLY = (
    "superusers only (a care-team clinician gets 403); account or security data, no clinical record"
)
ADMIN_EXEMPT = {
    "auth.group": SUPERUSER_ONLY,
    "token_blacklist.outstandingtoken": SUPERUSER_ONLY,
    "token_blacklist.blacklistedtoken": SUPERUSER_ONLY,
    "axes.accessattempt": SUPERUSER_ONLY,
    "axes.accesslog": SUPERUSER_ONLY,
    "axes.accessfailurelog": SUPERUSER_ONLY,
    "otp_totp.totpdevice": SUPERUSER_ONLY,
    "accounts.clinic": "the clinic's settings (clinic admins only): no patient",
    "accounts.user": "staff accounts (clinic admins only): patients are managed through their profile",
    "recovery.bulkexportjob": "Bulk Data export jobs (clinic admins only): who asked, status, files; a patient by id",
    "accounts.phiaccess": "the access log itself (clinic admins only); reading it is not a record read",
    "accounts.breakglassaccess": "the emergency-access log (a clinic's admins, a clinician their "
    "own; the opening itself is logged); reading it is not a record read",
    "reminders.reminderplan": "a clinic's reminder steps per kind (clinic admins only): no patient",
    "recovery.protocol": "clinic-level care protocols: no patient",
    "recovery.triagerule": "clinic-level triage rules: no patient",
    "recovery.minimalimportantdifference": "clinic-level MCID thresholds: no patient",
    "recovery.webhookendpoint": "a clinic's webhook endpoints (clinic admins only): no patient",
    "recovery.webhookdelivery": "the webhook delivery log (clinic admins only): event types and "
    "ids, never a name or a record's content",
}
ADMIN_PAGES_EXEMPT = {
    "/admin/models/": "Django's list of every admin page: models, no rows",
    "add": "add pages name no patient: the patient field is an autocomplete (answered, and logged, "
    "by /admin/autocomplete/); the surgery pickers show procedure, levels and date only",
}

PATIENTS_ONLY = (
    "patients only (403 for staff); a patient's own reads are not logged (accounts/audit.py)"
)
DEVICES = "patients and caregivers only (403 for staff): the caller's own device tokens"
API_EXEMPT = {
    ("post", "/api/v1/auth/token/"): "sign-in: tokens, no patient data",
    ("post", "/api/v1/auth/token/refresh/"): "tokens, no patient data",
    ("post", "/api/v1/auth/logout/"): "no body",
    ("post", "/api/v1/auth/activate/"): "a patient activating their own account",
    ("post", "/api/v1/auth/password/reset/"): "no body",
    ("post", "/api/v1/auth/password/reset/confirm/"): "no body",
    ("post", "/api/v1/auth/password/change/"): "no body",
    ("get", "/api/v1/me/"): "the caller's own account (a clinician's own profile names no patient)",
    ("patch", "/api/v1/me/"): PATIENTS_ONLY,
    ("get", "/api/v1/me/plan/"): PATIENTS_ONLY,
    ("get", "/api/v1/me/fhir/"): PATIENTS_ONLY,
    ("get", "/api/v1/me/access-log/"): PATIENTS_ONLY,
    ("get", "/api/v1/me/access-log/fhir/"): PATIENTS_ONLY,
    ("get", "/api/v1/me/erasure-request/"): PATIENTS_ONLY,
    ("post", "/api/v1/me/erasure-request/"): PATIENTS_ONLY,
    ("delete", "/api/v1/me/erasure-request/"): PATIENTS_ONLY,
    ("post", "/api/v1/me/exports/"): PATIENTS_ONLY,
    ("get", "/api/v1/me/exports/{export_id}/"): PATIENTS_ONLY,
    ("get", "/api/v1/me/exports/{export_id}/download/"): PATIENTS_ONLY,
    # FHIR Bulk Data (clinic admins only; the walk's surgeon is refused): the worker logs each
    # patient it exports and each download logs every patient of the file
    # (tests/recovery/test_fhir_bulk.py::test_group_export_kick_off_poll_download).
    ("get", "/api/v1/fhir/$export"): "a kick-off: a status URL, no patient data",
    ("get", "/api/v1/fhir/Patient/$export"): "a kick-off: a status URL, no patient data",
    ("get", "/api/v1/fhir/Group/{clinic_id}/$export"): "a kick-off: a status URL",
    ("get", "/api/v1/fhir/Patient/{patient_id}/$export"): "a kick-off: a status URL",
    ("get", "/api/v1/fhir/bulk-status/{job_id}"): "a manifest: file URLs and counts",
    ("get", "/api/v1/fhir/bulk-files/{job_id}/{file_name}"): "logged per patient by the download",
    ("delete", "/api/v1/fhir/bulk-status/{job_id}"): "cancels an export: no patient data",
    ("get", "/api/v1/me/caregivers/"): PATIENTS_ONLY,
    ("post", "/api/v1/me/caregivers/"): PATIENTS_ONLY,
    ("delete", "/api/v1/me/caregivers/{grant_id}/"): PATIENTS_ONLY,
    ("get", "/api/v1/me/caregiving/"): "caregivers only (403 for staff); a caregiver's list is "
    "logged (tests/accounts/test_caregivers.py)",
    ("get", "/api/v1/sync/pull/"): "patients and caregivers only (403 for staff); a caregiver's "
    "pulls are logged (tests/recovery/sync/test_caregivers.py)",
    ("post", "/api/v1/sync/push/"): PATIENTS_ONLY,
    ("post", "/api/v1/check-ins/"): PATIENTS_ONLY,
    ("post", "/api/v1/wound-photos/"): PATIENTS_ONLY,
    ("delete", "/api/v1/wound-photos/{photo_id}/"): "a tombstone: 204, no body (a caregiver's "
    "is logged: tests/recovery/photos/test_delete.py)",
    ("get", "/api/v1/wound-photo-files/{token}/"): (
        "a signed URL's file, fetched without a user; the read that issued the URL was logged"
    ),
    ("get", "/api/v1/check-ins/"): PATIENTS_ONLY,
    ("get", "/api/v1/devices/"): DEVICES,
    ("post", "/api/v1/devices/"): DEVICES,
    ("delete", "/api/v1/devices/"): DEVICES,
    ("post", "/api/v1/staff-devices/"): "the clinician's own device token",
    ("delete", "/api/v1/staff-devices/"): "the clinician's own device token",
    ("get", "/api/v1/notifications/"): PATIENTS_ONLY,
    ("get", "/api/v1/notifications/{id}/"): PATIENTS_ONLY,
    ("delete", "/api/v1/notifications/{id}/"): PATIENTS_ONLY,
    ("post", "/api/v1/notifications/{id}/read/"): PATIENTS_ONLY,
    ("post", "/api/v1/invitations/"): "a create: the answer echoes what the caller just wrote",
    ("post", "/api/v1/invitations/{invitation_id}/resend/"): (
        "logged as `resend` (tests/accounts/test_invitations_api.py); the walk's patient has "
        "accepted, and an accepted invitation is not resent"
    ),
    ("post", "/api/v1/invitations/{invitation_id}/revoke/"): (
        "logged as `revoke` (tests/accounts/test_invitations_api.py); the walk's patient has "
        "accepted, and an accepted invitation is not revoked"
    ),
}
for _prefix in API_KINDS:
    API_EXEMPT[("post", f"/api/v1/{_prefix}/")] = (
        "a create: the answer echoes what the caller just wrote (the write is in the change history)"
    )
    API_EXEMPT[("delete", f"/api/v1/{_prefix}/{{id}}/")] = "a tombstone: 204, no body"

# Non-GET operations whose answer shows the patient's record: called with these bodies.
_now = timezone.now()
API_WRITES_THAT_READ = {
    ("post", "/api/v1/alerts/{alert_id}/acknowledge/"): {},
    ("post", "/api/v1/alerts/{alert_id}/resolve/"): {"note": "seen"},
    ("post", "/api/v1/restrictions/{id}/lift/"): {},
    ("post", "/api/v1/appointments/{id}/reschedule/"): {
        "starts_at": (_now + timedelta(days=12)).isoformat()
    },
    ("post", "/api/v1/appointments/{id}/cancel/"): {},
    ("post", "/api/v1/appointments/{id}/complete/"): {},
    ("post", "/api/v1/milestones/{id}/achieve/"): {},
    ("post", "/api/v1/hospital-stays/{id}/discharge/"): {
        "discharged_at": _now.isoformat(),
        "discharge_disposition": "home",
    },
    ("post", "/api/v1/pt-sessions/{id}/complete/"): {"performed_at": _now.isoformat()},
    ("post", "/api/v1/wound-photos/{photo_id}/review/"): {"review_outcome": "looks_fine"},
}
for _prefix in API_KINDS:
    API_WRITES_THAT_READ[("patch", f"/api/v1/{_prefix}/{{id}}/")] = {}


# --- one patient with a row of everything ----------------------------------------------------


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def cast(clinic, surgeon, settings):
    """A patient who joined through an invitation, with a row of every kind of data."""
    settings.REMINDERS_CHANNELS = ["inbox"]
    invitation, code = account_services.patient_invite(
        clinic=clinic,
        invited_by=surgeon,
        email="zebulon.quixley@example.test",
        first_name="Zebulon",
        last_name="Quixley",
        date_of_birth=date(1961, 3, 4),
        time_zone="America/New_York",
        mrn="MRN-ZQ-4711",
        surgeon=surgeon,
    )
    user = account_services.invitation_activate(token=code, password="correct-horse-battery-9")
    patient = user.patient_profile
    records = {prefix: make_record(prefix, patient, surgeon) for prefix in API_KINDS}
    check_in = client_for(user).post(
        "/api/v1/check-ins/",
        {"answered_at": _now.isoformat(), "fell": True, "wound_opening": True},
        format="json",
    )
    assert check_in.status_code == 201, check_in.json()
    assert Alert.objects.filter(patient=patient).exists()
    protocol = Protocol.objects.filter(clinic__isnull=True, is_active=True).first()
    protocol_apply(actor=surgeon, protocol=protocol, surgery=records["surgeries"])
    reminder_services.reminders_sync_for_cause(
        patient=patient,
        kind="appointment",
        cause_type="appointment",
        cause_id=str(records["appointments"].pk),
        anchor=_now + timedelta(days=3),
        title="Visit",
    )
    reminder_services.notification_create(
        patient_id=patient.pk, kind="milestone", title="Well done"
    )
    reminder_services.device_register(patient=patient, token="device-token-zq", platform="ios")
    from tests.factories import wound_photo

    records["wound-photos"] = wound_photo(patient, note="the incision, day 5")
    from recovery.sync.models import RejectedRecord

    RejectedRecord.objects.create(  # a record the patient's phone pushed and the server refused
        patient=patient,
        user=patient.user,
        table_name="pain_logs",
        record_id="refused1",
        section="created",
        raw={"id": "refused1"},
        errors=[],
        last_pulled_at=0,
        sync_version=0,
    )
    ErasureRequest.objects.create(patient=patient)  # the patient asked to delete the account
    caregiver_of(patient, "read")  # a caregiver the patient chose (accounts.caregivers)
    return {"patient": patient, "surgeon": surgeon, "records": records, "invitation": invitation}


def names_the_patient(html: str, patient) -> bool:
    return any(s in html for s in (patient.user.email, patient.mrn, patient.user.last_name))


def logged(patient, user, path: str) -> bool:
    return PHIAccess.objects.filter(patient=patient, user=user, path=path).exists()


# --- the admin ---------------------------------------------------------------------------------


def test_every_admin_page_showing_the_patient_writes_the_log(client, cast):
    patient, surgeon = cast["patient"], cast["surgeon"]
    client.force_login(surgeon)
    missing, walked = [], []

    def visit(url, *, shows_patient=True):
        response = client.get(url)
        walked.append((url, response.status_code))
        if response.status_code == 200 and shows_patient and not logged(patient, surgeon, url):
            missing.append(url)
        return response

    # The index is the care team's dashboard: it names patients, so it logs them.
    assert visit("/admin/").status_code == 200
    models = client.get("/admin/models/")
    assert models.status_code == 200 and not names_the_patient(models.content.decode(), patient)

    for model, model_admin in admin.site._registry.items():
        label = model._meta.label_lower
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        if label in ADMIN_EXEMPT:
            response = client.get(base)
            assert response.status_code in (200, 403), label
            if response.status_code == 200:
                assert not names_the_patient(response.content.decode(), patient), (
                    label,
                    ADMIN_EXEMPT[label],
                )
            continue
        assert isinstance(model_admin, ScopedAdmin), (
            f"{label}: a page of patient data builds on ScopedAdmin (which writes the log), "
            "or is listed in ADMIN_EXEMPT with the reason"
        )
        path = model_admin.patient_path
        row = model._default_manager.filter(**{f"{path}__pk" if path else "pk": patient.pk}).first()
        assert row is not None, f"{label}: the fixture needs a row of the patient"

        listing = visit(base)
        assert listing.status_code == 200, label
        url = f"{base}{quote(row.pk)}"  # the admin escapes ids ('_' is '_5F')
        assert f"{url}/change/" in listing.content.decode(), label
        assert visit(f"{url}/change/").status_code == 200, label
        assert visit(f"{url}/history/").status_code == 200, label
        assert visit(f"{url}/delete/").status_code in (200, 403), label  # 403: not theirs to delete
        add = client.get(f"{base}add/")
        assert add.status_code in (200, 403), label
        if add.status_code == 200:
            assert not names_the_patient(add.content.decode(), patient), (
                label,
                ADMIN_PAGES_EXEMPT["add"],
            )

    timeline = visit(f"/admin/accounts/patientprofile/{patient.pk}/timeline/")
    assert timeline.status_code == 200

    pickers = 0
    for model, model_admin in admin.site._registry.items():
        for field in model_admin.autocomplete_fields:
            url = (
                f"/admin/autocomplete/?app_label={model._meta.app_label}"
                f"&model_name={model._meta.model_name}&field_name={field}&term="
            )
            response = visit(url)
            assert response.status_code == 200, url
            assert str(patient.pk) in {r["id"] for r in response.json()["results"]}, url
            pickers += 1
    assert pickers >= 10

    assert len(walked) > 60
    assert not missing, f"pages that showed the patient without a PHI access row: {missing}"


def test_autocomplete_logs_only_the_patients_it_answered_with(client, cast, other_patient):
    """A search narrows the answer; the log names the patients shown, not the whole scope."""
    patient, surgeon = cast["patient"], cast["surgeon"]
    client.force_login(other_patient.surgeon)
    url = (
        "/admin/autocomplete/?app_label=recovery&model_name=painlog&field_name=patient&term=Quixley"
    )
    assert client.get(url).json()["results"] == []  # not on this surgeon's team
    assert not PHIAccess.objects.filter(path=url).exists()
    client.force_login(surgeon)
    assert [r["id"] for r in client.get(url).json()["results"]] == [str(patient.pk)]
    rows = PHIAccess.objects.filter(path=url)
    assert [(r.patient_id, r.user_id, r.action, r.resource) for r in rows] == [
        (patient.pk, surgeon.pk, "admin_autocomplete", "patient_profile")
    ]


# --- the API -----------------------------------------------------------------------------------


def _operations():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    ops = []
    for path, item in schema["paths"].items():
        for method in item:
            if method in ("get", "post", "put", "patch", "delete"):
                ops.append((method, path))
    return sorted(ops, key=lambda op: (op[1], op[0] != "get", op[0]))


def _concrete(path: str, cast) -> str:
    """The template with the patient's ids: a fresh record per call, so actions that change a
    row's state (cancel, complete) never meet one another's leftovers."""
    patient, surgeon = cast["patient"], cast["surgeon"]
    if "{patient_id}" in path:
        return path.replace("{patient_id}", str(patient.pk))
    if "{invitation_id}" in path:
        return path.replace("{invitation_id}", str(cast["invitation"].pk))
    if "{alert_id}" in path:
        alert = (
            Alert.objects.filter(patient=patient).exclude(status="resolved").order_by("pk").first()
        )
        return path.replace("{alert_id}", str(alert.pk))
    if "{photo_id}" in path:
        from tests.factories import wound_photo

        return path.replace("{photo_id}", wound_photo(patient).pk)
    if "{id}" in path:
        prefix = path.split("/")[3]
        return path.replace("{id}", str(make_record(prefix, patient, surgeon).pk))
    assert not re.search(r"\{\w+\}", path), f"no id to put into {path}"
    return path


def test_every_api_operation_showing_the_patient_writes_the_log(cast):
    patient, surgeon = cast["patient"], cast["surgeon"]
    api = client_for(surgeon)
    ops = _operations()
    unclassified = [
        op
        for op in ops
        if op not in API_EXEMPT and op not in API_WRITES_THAT_READ and op[0] != "get"
    ]
    assert not unclassified, (
        f"operations neither walked nor exempt: {unclassified}; log the read (accounts.audit) and add "
        "them to API_WRITES_THAT_READ, or list them in API_EXEMPT with the reason"
    )
    stale = (set(API_EXEMPT) | set(API_WRITES_THAT_READ)) - set(ops)
    assert not stale, f"listed but not in the schema: {stale}"

    missing, walked = [], 0
    for method, template in ops:
        if (method, template) in API_EXEMPT:
            if method == "get" and "{" not in template:
                response = api.get(template)
                assert response.status_code in (200, 403), template
                if response.status_code == 200:
                    body = response.content.decode()
                    assert not names_the_patient(body, patient), (
                        template,
                        API_EXEMPT[(method, template)],
                    )
            continue
        url = _concrete(template, cast)
        body = API_WRITES_THAT_READ.get((method, template))
        response = (
            getattr(api, method)(url, body, format="json") if method != "get" else api.get(url)
        )
        if getattr(response, "streaming", False):
            b"".join(response.streaming_content)
        assert response.status_code == 200, (method, template, response.content[:300])
        walked += 1
        if not logged(patient, surgeon, url):
            missing.append((method, template))
    assert walked >= 2 * len(API_KINDS) + 10
    assert not missing, f"answers that showed the patient without a PHI access row: {missing}"


def test_alert_lifecycle_answers_are_logged_with_the_alert(cast):
    patient, surgeon = cast["patient"], cast["surgeon"]
    alert = Alert.objects.filter(patient=patient).order_by("pk").first()
    api = client_for(surgeon)
    assert api.post(f"/api/v1/alerts/{alert.pk}/acknowledge/").status_code == 200
    assert (
        api.post(f"/api/v1/alerts/{alert.pk}/resolve/", {"note": "ok"}, format="json").status_code
        == 200
    )
    rows = PHIAccess.objects.filter(resource="alerts", object_id=str(alert.pk)).order_by("pk")
    assert [(r.action, r.patient_id, r.user_id) for r in rows] == [
        ("acknowledge", patient.pk, surgeon.pk),
        ("resolve", patient.pk, surgeon.pk),
    ]
    # Another team's alert is a 404 and writes nothing.
    other = client_for(
        account_services.staff_create(
            clinic=patient.clinic,
            email="else@example.test",
            role="surgeon",
            first_name="A",
            last_name="B",
            password="correct-horse-battery-9",
        )
    )
    before = PHIAccess.objects.count()
    assert other.post(f"/api/v1/alerts/{alert.pk}/acknowledge/").status_code == 404
    assert PHIAccess.objects.count() == before
