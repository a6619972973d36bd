"""One rule for "is a clinic admin" and one for "is on this patient's care team", asked by every
consumer: the admin (accounts, reminders, care), the API's scope (patients_for), the write path
and the alert lifecycle. Every role, active or not, with ``is_staff`` on and off."""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.utils import timezone

from accounts.models import User
from accounts.roles import care_team_scope, is_care_team_member, is_clinic_admin, is_staff_member
from accounts.selectors import patients_for
from config.errors import DomainError, Forbidden
from recovery.care.alerts import alert_acknowledge
from recovery.care.models import Alert
from recovery.record.writes import check_create, kind_for_table
from reminders.models import ReminderPlan
from tests.factories import ClinicFactory, PatientFactory, StaffFactory

pytestmark = pytest.mark.django_db

ROLES = ["patient", "surgeon", "nurse", "physical_therapist", "clinic_admin", "superuser"]


@pytest.fixture
def world(clinic, surgeon):
    """A patient on ``surgeon``'s team, a patient of the same clinic on nobody's team here, and
    a patient of another clinic."""
    other_clinic = ClinicFactory()
    return {
        "clinic": clinic,
        "mine": PatientFactory(clinic=clinic, surgeon=surgeon),
        "same_clinic": PatientFactory(
            clinic=clinic, surgeon=StaffFactory(clinic=clinic, role="surgeon")
        ),
        "other_clinic": PatientFactory(
            clinic=other_clinic, surgeon=StaffFactory(clinic=other_clinic, role="surgeon")
        ),
    }


def make_user(world, role, *, is_staff, is_active):
    from accounts import services

    clinic = world["clinic"]
    if role == "superuser":
        user = User.objects.create_superuser(email=f"root-{is_staff}-{is_active}@example.test")
    elif role == "patient":
        user = world["mine"].user
    else:
        user = StaffFactory(clinic=clinic, role=role)
        if role != "clinic_admin":
            services.care_team_add(patient=world["mine"], clinician=user)
    User.objects.filter(pk=user.pk).update(is_staff=is_staff, is_active=is_active)
    return User.objects.get(pk=user.pk)


def expected_reach(role, *, is_staff, is_active) -> set[str]:
    """Which of the world's patients the user's care-team powers cover."""
    if not (is_staff and is_active) or role == "patient":
        return set()
    if role == "superuser":
        return {"mine", "same_clinic", "other_clinic"}
    if role == "clinic_admin":
        return {"mine", "same_clinic"}
    return {"mine"}


FLAGS = [(is_staff, is_active) for is_staff in (True, False) for is_active in (True, False)]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("is_staff", "is_active"), FLAGS)
def test_clinic_admin_is_one_rule_everywhere(world, role, is_staff, is_active):
    user = make_user(world, role, is_staff=is_staff, is_active=is_active)
    staff = is_staff and is_active and role != "patient"
    assert is_staff_member(user) is staff
    expected = staff and role in ("clinic_admin", "superuser")
    assert is_clinic_admin(user) is expected
    # The reminder plans (a clinic-admin page) ask the same rule, is_staff included.
    request = RequestFactory().get("/admin/")
    request.user = user
    plans = admin.site._registry[ReminderPlan]
    assert plans.has_module_permission(request) is expected
    assert plans.has_add_permission(request) is expected
    assert plans.has_change_permission(request) is expected
    # The model has no second, differing definition.
    assert not hasattr(User, "is_clinic_admin")


@pytest.mark.parametrize("role", ROLES)
def test_care_team_is_one_rule_for_scope_writes_and_alerts(world, role):
    for is_staff, is_active in FLAGS:
        _check_care_team(world, role, is_staff=is_staff, is_active=is_active)


def _check_care_team(world, role, *, is_staff, is_active):
    user = make_user(world, role, is_staff=is_staff, is_active=is_active)
    reach = expected_reach(role, is_staff=is_staff, is_active=is_active)
    restrictions = kind_for_table("restrictions")
    for name in ("mine", "same_clinic", "other_clinic"):
        patient = world[name]
        member = name in reach
        where = (role, is_staff, is_active, name)
        assert is_care_team_member(user, patient) is member, where
        if role == "patient":
            continue  # a patient's own scope and writes are their own rules
        assert patients_for(user).filter(pk=patient.pk).exists() is member, where
        if member:
            check_create(restrictions, user, patient)
        else:
            with pytest.raises(DomainError) as refused:
                check_create(restrictions, user, patient)
            assert isinstance(refused.value, Forbidden)
        alert = Alert.objects.create(
            patient=patient,
            rule_key="r",
            cause_key=f"c-{name}-{user.pk}",
            tier="same_day",
            title="t",
            acknowledge_by=timezone.now() + timedelta(hours=1),
        )
        if member:
            assert alert_acknowledge(actor=user, alert=alert).status == "acknowledged"
        else:
            with pytest.raises(DomainError) as refused:
                alert_acknowledge(actor=user, alert=alert)
            assert isinstance(refused.value, Forbidden)


def test_a_patient_sees_only_themselves_whatever_is_staff_says(world):
    patient = world["mine"]
    User.objects.filter(pk=patient.user_id).update(is_staff=True)
    user = User.objects.get(pk=patient.user_id)
    assert list(patients_for(user)) == [patient]
    assert care_team_scope(user) is None


def test_membership_check_asks_the_database_once_and_admins_not_at_all(
    world, django_assert_num_queries
):
    clinician = make_user(world, "nurse", is_staff=True, is_active=True)
    clinic_admin = make_user(world, "clinic_admin", is_staff=True, is_active=True)
    patient = PatientFactory(clinic=world["clinic"])
    with django_assert_num_queries(1):
        assert is_care_team_member(clinician, patient) is False
    with django_assert_num_queries(0):
        assert is_care_team_member(clinic_admin, patient) is True
