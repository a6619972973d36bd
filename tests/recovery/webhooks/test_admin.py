"""The clinic admin's webhook pages: register (secret shown once), scope (another clinic's
endpoint is a 404, clinicians have no access), rotate, the delivery log and resend."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from recovery.care.kinds import CHECK_INS
from recovery.models import WebhookDelivery, WebhookEndpoint
from recovery.record.writes import record_create
from recovery.webhooks.delivery import delivery_attempt
from tests.factories import ClinicFactory, StaffFactory

from .conftest import signature_ok

pytestmark = pytest.mark.django_db

ADD = reverse("admin:recovery_webhookendpoint_add")
LIST = reverse("admin:recovery_webhookendpoint_changelist")
DELIVERIES = reverse("admin:recovery_webhookdelivery_changelist")


def change_url(endpoint):
    return reverse("admin:recovery_webhookendpoint_change", args=[endpoint.pk])


def check_in(patient):
    record_create(
        CHECK_INS,
        actor=patient.user,
        patient=patient,
        answered_at=timezone.now() - timedelta(minutes=1),
        fell=False,
    )


def test_register_shows_the_secret_once(client, clinic_admin, receiver, patient):
    client.force_login(clinic_admin)
    response = client.post(
        ADD,
        {
            "url": receiver.url,
            "description": "EHR bridge",
            "event_types": ["check_in.recorded", "alert.opened"],
            "is_active": "on",
        },
    )
    assert response.status_code == 200, response.content
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    (secret,) = re.findall(r'class="webhook-secret-value">(whsec_[^<]+)<', html)
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.clinic_id, endpoint.created_by_id) == (clinic_admin.clinic_id, clinic_admin.pk)
    assert endpoint.event_types == ["alert.opened", "check_in.recorded"]
    assert endpoint.secret == secret
    # Never shown again: the change page has only a hint.
    page = client.get(change_url(endpoint)).content.decode()
    assert secret not in page and secret[-4:] in page
    # The secret shown signs what the receiver gets.
    check_in(patient)
    delivery_attempt(delivery_id=WebhookDelivery.objects.get().pk)
    request = receiver.requests[0]
    assert signature_ok(secret, request["headers"], request["body"])


def test_bad_input_is_a_form_error(client, clinic_admin, settings):
    settings.WEBHOOK_REQUIRE_HTTPS = True
    client.force_login(clinic_admin)
    response = client.post(
        ADD, {"url": "http://example.org/hooks", "event_types": ["check_in.recorded"]}
    )
    assert response.status_code == 200
    assert "must use https://" in response.content.decode()
    response = client.post(ADD, {"url": "https://example.org/hooks", "event_types": ["nope"]})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["event_types"]
    assert not WebhookEndpoint.objects.exists()


def test_another_clinics_endpoint_is_a_404(client, clinic_admin, make_endpoint):
    foreign_admin = StaffFactory(clinic=ClinicFactory(), role="clinic_admin")
    foreign, _ = make_endpoint("http://127.0.0.1:1/x", admin=foreign_admin)
    own, _ = make_endpoint("http://127.0.0.1:1/own")
    client.force_login(clinic_admin)
    assert client.get(change_url(foreign)).status_code == 404
    listed = client.get(LIST).context["cl"].result_list
    assert [e.pk for e in listed] == [own.pk]
    response = client.post(change_url(foreign), {"url": "http://127.0.0.1:1/y"})
    assert response.status_code == 404
    assert WebhookEndpoint.objects.get(pk=foreign.pk).url == "http://127.0.0.1:1/x"


@pytest.mark.parametrize("role", ["surgeon", "nurse", "physical_therapist"])
def test_clinicians_have_no_webhook_pages(client, clinic, make_endpoint, role):
    endpoint, _ = make_endpoint("http://127.0.0.1:1/own")
    client.force_login(StaffFactory(clinic=clinic, role=role))
    assert client.get(LIST).status_code == 403
    assert client.get(change_url(endpoint)).status_code == 403
    assert client.get(DELIVERIES).status_code == 403


def test_rotate_action_shows_the_new_secret(client, clinic_admin, make_endpoint):
    endpoint, old = make_endpoint("http://127.0.0.1:1/own")
    client.force_login(clinic_admin)
    response = client.post(LIST, {"action": "rotate_secret", "_selected_action": [endpoint.pk]})
    assert response.status_code == 200
    (new,) = re.findall(r'class="webhook-secret-value">(whsec_[^<]+)<', response.content.decode())
    endpoint.refresh_from_db()
    assert (endpoint.secret, endpoint.previous_secret) == (new, old)


def test_re_enabling_clears_the_failures(client, clinic_admin, make_endpoint):
    endpoint, _ = make_endpoint("http://127.0.0.1:1/own")
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        is_active=False, consecutive_failures=15, disabled_at=timezone.now(), disabled_reason="x"
    )
    client.force_login(clinic_admin)
    response = client.post(
        change_url(endpoint),
        {"url": endpoint.url, "event_types": endpoint.event_types, "is_active": "on"},
    )
    assert response.status_code == 302, response.content
    endpoint.refresh_from_db()
    assert endpoint.is_active and endpoint.consecutive_failures == 0 and not endpoint.disabled_at


def test_delivery_log_and_resend(
    client, clinic_admin, make_endpoint, patient, receiver, django_assert_max_num_queries
):
    make_endpoint(receiver.url)
    receiver.answers = [500]
    for _ in range(3):
        check_in(patient)
    deliveries = list(WebhookDelivery.objects.order_by("pk"))
    for delivery in deliveries:
        delivery_attempt(delivery_id=delivery.pk)
    foreign_admin = StaffFactory(clinic=ClinicFactory(), role="clinic_admin")
    client.force_login(foreign_admin)
    assert client.get(DELIVERIES).context["cl"].result_list.count() == 0
    one = reverse("admin:recovery_webhookdelivery_change", args=[deliveries[0].pk])
    assert client.get(one).status_code == 404
    client.force_login(clinic_admin)
    with django_assert_max_num_queries(20):
        listing = client.get(DELIVERIES)
    assert listing.context["cl"].result_list.count() == 3
    page = client.get(one).content.decode()
    assert "HTTP 500" in page and "check_in.recorded" in page
    assert patient.user.last_name not in page
    response = client.post(DELIVERIES, {"action": "resend", "_selected_action": [deliveries[0].pk]})
    assert response.status_code == 302
    deliveries[0].refresh_from_db()
    assert (deliveries[0].status, deliveries[0].attempts) == ("pending", 0)
