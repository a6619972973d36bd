"""Every admin page of patient data, for every role (design.md section 8).

Roles: the patient, the surgeon of record, a nurse on the team, a surgeon of the same clinic not
on the team, the clinic's admin and another clinic's admin. Pages: changelist (with search and
filters), change, add, delete, history, autocomplete, the timeline.
"""

import json

import pytest

from accounts.models import PatientProfile
from tests.conftest import module_data
from tests.factories import ClinicFactory, PatientFactory, StaffFactory, build_record

# The people and recoveries are the module's (``_rows``): the same for every test, as if each
# had written them itself.
pytestmark = pytest.mark.django_db

MODELS = {
    "surgery": "surgery",
    "hospitalstay": "stay",
    "painlog": "pain",
    "ptsession": "pt",
    "activityrestriction": "restrictions",
    "appointment": "appointments",
    "milestone": "milestones",
}
IN_SCOPE = {"surgeon", "nurse", "clinic_admin"}
OUT_OF_SCOPE = {"outsider_surgeon", "foreign_clinic_admin"}
ROLES = sorted(IN_SCOPE | OUT_OF_SCOPE | {"patient"})


def one(rows):
    return rows[0] if isinstance(rows, list) else rows


def _two_recoveries() -> dict:
    clinic = ClinicFactory()
    surgeon = StaffFactory(clinic=clinic, role="surgeon")
    nurse = StaffFactory(clinic=clinic, role="nurse")
    patient = PatientFactory(clinic=clinic, surgeon=surgeon, care_team=(nurse,))
    other_surgeon = StaffFactory(clinic=clinic, role="surgeon")
    other_patient = PatientFactory(clinic=clinic, surgeon=other_surgeon)
    people = {
        "clinic": clinic,
        "surgeon": surgeon,
        "nurse": nurse,
        "patient": patient,
        "other_patient": other_patient,
        "clinic_admin": StaffFactory(clinic=clinic, role="clinic_admin"),
        "foreign_clinic_admin": StaffFactory(clinic=ClinicFactory(), role="clinic_admin"),
    }
    return {
        "people": people,
        "mine": build_record(patient, surgeon, days=3),
        "theirs": build_record(other_patient, other_surgeon, days=2),
    }


@pytest.fixture(scope="module")
def _rows(django_db_setup, django_db_blocker):
    """The people and the two recoveries, written once for the module
    (``tests.conftest.module_data``); each test reads them afresh (the fixtures below)."""
    with module_data(django_db_blocker, _two_recoveries) as rows:
        yield rows


def _reread(rows):
    if isinstance(rows, list):
        return [_reread(row) for row in rows]
    return type(rows).objects.get(pk=rows.pk)


def _person(name: str):
    """A fixture ``name`` (in place of the shared one of the same name): the module's row, read
    afresh for the test."""

    @pytest.fixture(name=name)
    def person(_rows, db):
        return _reread(_rows["people"][name])

    return person


clinic = _person("clinic")
surgeon = _person("surgeon")
nurse = _person("nurse")
patient = _person("patient")
other_patient = _person("other_patient")
clinic_admin = _person("clinic_admin")
foreign_clinic_admin = _person("foreign_clinic_admin")


@pytest.fixture
def world(_rows, patient, surgeon, nurse, other_patient, clinic_admin, foreign_clinic_admin):
    mine = {kind: _reread(rows) for kind, rows in _rows["mine"].items()}
    theirs = {kind: _reread(rows) for kind, rows in _rows["theirs"].items()}
    users = {
        "patient": patient.user,
        "surgeon": surgeon,
        "nurse": nurse,
        "outsider_surgeon": other_patient.surgeon,
        "clinic_admin": clinic_admin,
        "foreign_clinic_admin": foreign_clinic_admin,
    }
    return {"mine": mine, "theirs": theirs, "users": users}


def urls_for(model, pk):
    base = f"/admin/recovery/{model}/"
    return {
        "change": f"{base}{pk}/change/",
        "history": f"{base}{pk}/history/",
        "delete": f"{base}{pk}/delete/",
    }


@pytest.mark.parametrize("role", ROLES)
def test_record_pages_by_role(client, world, role, patient):
    client.force_login(world["users"][role])
    for model, key in MODELS.items():
        record = one(world["mine"][key])
        listing = client.get(f"/admin/recovery/{model}/")
        pages = {name: client.get(url) for name, url in urls_for(model, record.pk).items()}
        add = client.get(f"/admin/recovery/{model}/add/")
        if role == "patient":
            assert listing.status_code == 302 and "/admin/login/" in listing["Location"], model
            assert all(r.status_code == 302 for r in pages.values()), model
            assert add.status_code == 302, model
            continue
        assert listing.status_code == 200, (model, role)
        assert add.status_code == 200, (model, role)
        listed = f"/admin/recovery/{model}/{record.pk}/change/" in listing.content.decode()
        if role in IN_SCOPE:
            assert listed, (model, role)
            assert pages["change"].status_code == 200, (model, role)
            assert pages["history"].status_code == 200, (model, role)
            # A patient's own pain log may not be deleted by the care team (services rule).
            expected = 403 if model == "painlog" else 200
            assert pages["delete"].status_code == expected, (model, role)
        else:
            assert not listed, (model, role)
            for name, response in pages.items():
                assert response.status_code == 404, (model, role, name)


@pytest.mark.parametrize("role", sorted(IN_SCOPE | OUT_OF_SCOPE))
def test_changelists_never_show_out_of_scope_rows(client, world, role):
    """Rows, search results and filter choices hold only patients the caller may see."""
    user = world["users"][role]
    client.force_login(user)
    theirs = world["theirs"]
    other = theirs["surgery"].patient
    other_name = other.user.last_name
    for model, key in MODELS.items():
        record = one(theirs[key])
        listing = client.get(f"/admin/recovery/{model}/").content.decode()
        searched = client.get(f"/admin/recovery/{model}/", {"q": other_name}).content.decode()
        filtered = client.get(f"/admin/recovery/{model}/", {"patient": other.pk}).content.decode()
        row = f"/admin/recovery/{model}/{record.pk}/change/"
        # The other patient is in the clinic admin's scope and on the outsider's own team.
        sees_other = role in ("clinic_admin", "outsider_surgeon")
        assert (row in listing) is sees_other, (model, role)
        assert (row in searched) is sees_other, (model, role)
        assert (row in filtered) is sees_other, (model, role)
        # The patient filter offers only patients in scope.
        assert (f"?patient={other.pk}" in listing) is sees_other, (model, role)
        assert (other.mrn in listing) is sees_other, (model, role)


def test_staff_filters_list_only_staff_on_rows_in_scope(client, world, surgeon):
    client.force_login(surgeon)
    outsider = world["users"]["outsider_surgeon"]
    listing = client.get("/admin/recovery/surgery/").content.decode()
    assert f"surgeon__id__exact={surgeon.pk}" in listing
    assert f"surgeon__id__exact={outsider.pk}" not in listing
    appointments = client.get("/admin/recovery/appointment/").content.decode()
    assert f"clinician__id__exact={outsider.pk}" not in appointments


@pytest.mark.parametrize("role", ROLES)
def test_patient_autocomplete_by_role(client, world, role, patient, other_patient):
    client.force_login(world["users"][role])
    for model in MODELS:
        response = client.get(
            "/admin/autocomplete/",
            {"app_label": "recovery", "model_name": model, "field_name": "patient", "term": ""},
        )
        if role == "patient":
            assert response.status_code == 302, model
            continue
        assert response.status_code == 200, (model, role)
        ids = {int(r["id"]) for r in json.loads(response.content)["results"]}
        assert (patient.pk in ids) is (role in IN_SCOPE), (model, role)
        assert (other_patient.pk in ids) is (role in ("clinic_admin", "outsider_surgeon")), (
            model,
            role,
        )
        assert ids <= set(
            PatientProfile.objects.filter(clinic=world["users"][role].clinic).values_list(
                "pk", flat=True
            )
        )


def test_the_patient_picker_lists_patients_by_name(client, clinic_admin, clinic):
    for last_name in ("Young", "Abbott", "Moss"):
        PatientFactory(clinic=clinic, last_name=last_name)
    client.force_login(clinic_admin)
    response = client.get(
        "/admin/autocomplete/",
        {"app_label": "recovery", "model_name": "painlog", "field_name": "patient", "term": ""},
    )
    ids = [int(r["id"]) for r in json.loads(response.content)["results"]]
    names = dict(PatientProfile.objects.values_list("pk", "user__last_name"))
    assert [names[pk] for pk in ids] == sorted(names[pk] for pk in ids)
    assert {"Young", "Abbott", "Moss"} <= {names[pk] for pk in ids}


def test_autocomplete_search_term_does_not_widen_scope(client, world, surgeon, other_patient):
    client.force_login(surgeon)
    response = client.get(
        "/admin/autocomplete/",
        {
            "app_label": "recovery",
            "model_name": "painlog",
            "field_name": "patient",
            "term": other_patient.user.last_name,
        },
    )
    assert response.status_code == 200
    assert str(other_patient.pk) not in {r["id"] for r in json.loads(response.content)["results"]}


def test_add_form_pickers_hold_only_scope(client, world, surgeon):
    client.force_login(surgeon)
    theirs = world["theirs"]
    page = client.get("/admin/recovery/surgery/add/").content.decode()
    assert f'value="{world["mine"]["prior"].pk}"' in page
    assert f'value="{theirs["prior"].pk}"' not in page
    stay_page = client.get("/admin/recovery/hospitalstay/add/").content.decode()
    assert f'value="{theirs["surgery"].pk}"' not in stay_page
    assert f'value="{world["mine"]["surgery"].pk}"' in stay_page


def test_posting_another_patients_id_is_refused(client, world, surgeon, other_patient):
    client.force_login(surgeon)
    response = client.post(
        "/admin/recovery/milestone/add/",
        {"patient": other_patient.pk, "title": "Sneaky", "kind": "other", "notes": ""},
    )
    assert response.status_code == 200  # the form again
    assert "Select a valid choice" in response.content.decode()
    from recovery.models import Milestone

    assert not Milestone.objects.filter(patient=other_patient, title="Sneaky").exists()


@pytest.mark.parametrize("role", ROLES)
def test_patient_pages_and_timeline_by_role(client, world, role, patient):
    client.force_login(world["users"][role])
    base = f"/admin/accounts/patientprofile/{patient.pk}/"
    responses = {
        "list": client.get("/admin/accounts/patientprofile/"),
        "change": client.get(f"{base}change/"),
        "history": client.get(f"{base}history/"),
        "delete": client.get(f"{base}delete/"),
        "timeline": client.get(f"{base}timeline/"),
    }
    if role == "patient":
        assert all(r.status_code == 302 for r in responses.values())
        return
    assert responses["list"].status_code == 200
    listed = f"{base}change/" in responses["list"].content.decode()
    if role in IN_SCOPE:
        assert listed
        assert f"{base}timeline/" in responses["list"].content.decode()
        assert responses["change"].status_code == 200
        assert f"{base}timeline/" in responses["change"].content.decode()
        assert responses["history"].status_code == 200
        assert responses["timeline"].status_code == 200
        assert responses["delete"].status_code == 403  # only a superuser deletes a patient
    else:
        assert not listed
        for name in ("change", "history", "delete", "timeline"):
            assert responses[name].status_code == 404, (role, name)


@pytest.mark.parametrize("role", ["surgeon", "nurse", "clinic_admin"])
def test_raw_id_style_popup_lookups_are_scoped(client, world, role, patient, other_patient):
    """The related-object lookup popup (what raw-id widgets open) lists the scope only."""
    client.force_login(world["users"][role])
    response = client.get("/admin/accounts/patientprofile/", {"_to_field": "id", "_popup": "1"})
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-popup-opener="{patient.pk}"' in html
    assert (f'data-popup-opener="{other_patient.pk}"' in html) is (role == "clinic_admin")


def test_care_team_picker_lists_only_the_clinics_clinicians(
    client, world, surgeon, nurse, patient, clinic_admin, foreign_clinic_admin, foreign_patient
):
    client.force_login(clinic_admin)
    html = client.get(f"/admin/accounts/patientprofile/{patient.pk}/change/").content.decode()
    assert f'<option value="{nurse.pk}"' in html
    assert f'<option value="{world["users"]["outsider_surgeon"].pk}"' in html  # same clinic
    assert f'<option value="{foreign_patient.surgeon.pk}"' not in html
    assert f'<option value="{patient.user.pk}"' not in html  # patients are never clinicians


def test_clinicians_read_the_care_team_but_do_not_edit_it(client, world, surgeon, nurse, patient):
    client.force_login(surgeon)
    html = client.get(f"/admin/accounts/patientprofile/{patient.pk}/change/").content.decode()
    assert str(nurse) in html
    assert 'name="memberships-0-clinician"' not in html
    assert 'name="memberships-TOTAL_FORMS"' in html  # the inline is there, read-only


def test_admin_links_typed_without_a_scheme_are_https(rf, surgeon):
    """A telehealth link typed as ``meet.example.com/...`` is stored as https (Django 5.2's
    forms would make it http)."""
    from django.contrib import admin

    from recovery.models import Appointment

    request = rf.get("/admin/")
    request.user = surgeon
    form_class = admin.site._registry[Appointment].get_form(request)
    field = form_class.base_fields["telehealth_url"]
    assert field.clean("meet.example.com/room-7") == "https://meet.example.com/room-7"
