"""The patient list leads with the most urgent open alert: a tier label, not a bare count;
sorted emergency first by default, sortable and filterable by tier, within the scope."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from recovery.care.alerts import alert_resolve
from recovery.models import Alert
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

LIST = "/admin/accounts/patientprofile/"


def check_in(api, patient, **answers):
    response = api(patient.user).post(
        "/api/v1/check-ins/",
        {"answered_at": timezone.now().isoformat(), **answers},
        format="json",
    )
    assert response.status_code == 201, response.content


@pytest.fixture
def ward(api, clinic, surgeon, nurse, other_patient):
    """Four patients of the surgeon: no alert, within 24 hours, same day (+ a fall), and an
    emergency that was resolved (so: none open). The other surgeon's patient has an emergency."""
    names = ["Quiet", "Fall", "Wound", "Resolved"]
    people = {
        name: PatientFactory(clinic=clinic, surgeon=surgeon, last_name=name, care_team=(nurse,))
        for name in names
    }
    check_in(api, people["Fall"], fell=True)
    check_in(api, people["Wound"], fell=True)
    check_in(api, people["Wound"], wound_redness=True)
    check_in(api, people["Resolved"], bowel_bladder_loss_or_saddle_numbness=True)
    alert_resolve(actor=nurse, alert=Alert.objects.get(patient=people["Resolved"]), note="Seen.")
    check_in(api, other_patient, bowel_bladder_loss_or_saddle_numbness=True)
    return people


def rows(response):
    return [p.user.last_name for p in response.context["cl"].result_list]


def test_highest_tier_first_with_a_coloured_label(client, surgeon, ward):
    client.force_login(surgeon)
    response = client.get(LIST)
    assert rows(response)[:2] == ["Wound", "Fall"]
    assert set(rows(response)[2:]) == {"Quiet", "Resolved"}
    html = response.content.decode()
    assert '<span class="tier-label tier-same_day" data-tier="same_day" title="Same day">' in html
    assert "Same day</span> +1 more" in html  # the fall as well
    assert 'class="tier-label tier-emergency"' not in html  # resolved, or outside the scope
    assert "Select patient profile" in html and ".tier-label.tier-emergency" in html  # styles


def test_filter_by_tier_within_the_scope(client, surgeon, clinic_admin, ward, other_patient):
    client.force_login(surgeon)
    assert rows(client.get(LIST, {"alert_tier": "same_day"})) == ["Wound"]
    assert rows(client.get(LIST, {"alert_tier": "within_24h"})) == ["Fall"]
    assert rows(client.get(LIST, {"alert_tier": "emergency"})) == []
    assert sorted(rows(client.get(LIST, {"alert_tier": "none"}))) == ["Quiet", "Resolved"]
    assert client.get(LIST, {"alert_tier": "bogus"}).status_code == 200
    client.force_login(clinic_admin)
    shown = client.get(LIST, {"alert_tier": "emergency"}).context["cl"].result_list
    assert [p.pk for p in shown] == [other_patient.pk]


def test_sortable_by_tier_both_ways(client, surgeon, ward):
    client.force_login(surgeon)
    assert rows(client.get(LIST, {"o": "1"}))[:2] == ["Wound", "Fall"]
    assert rows(client.get(LIST, {"o": "-1"}))[-2:] == ["Fall", "Wound"]


def test_query_count_does_not_grow_with_rows(api, client, clinic, surgeon, ward):
    client.force_login(surgeon)
    client.get(LIST)
    with CaptureQueriesContext(connection) as few:
        client.get(LIST)
    for _ in range(6):
        p = PatientFactory(clinic=clinic, surgeon=surgeon)
        check_in(api, p, wound_redness=True)
    with CaptureQueriesContext(connection) as many:
        client.get(LIST)
    assert len(few.captured_queries) == len(many.captured_queries)
