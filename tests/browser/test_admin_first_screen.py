"""At 1440x900 an open emergency is impossible to miss (issue 19, item 4): the timeline opens
with the alert banner (emergency first, escalation state), the pain chart within the first
screen, the patient list shows the alert tier without scrolling sideways, and ``/admin/`` is the
care team's dashboard. Screenshots go to the test's tmp dir."""

import pytest
from django.utils import timezone

from recovery.care.alerts import alert_acknowledge
from recovery.models import Alert
from tests.factories import (
    PASSWORD,
    ClinicFactory,
    PatientFactory,
    StaffFactory,
    build_record,
)

from .conftest import sign_in

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WIDTH, HEIGHT = 1440, 900


def check_in(api, patient, **answers):
    response = api(patient.user).post(
        "/api/v1/check-ins/",
        {"answered_at": timezone.now().isoformat(), **answers},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response


@pytest.fixture
def seeded(api, clinic, surgeon, nurse, patient):
    build_record(patient, surgeon, days=45)  # with an overdue milestone and appointment
    # A same-day alert first (acknowledged by the nurse), then the emergency: the banner must
    # still put the emergency first.
    check_in(api, patient, wound_redness=True)
    alert_acknowledge(actor=nurse, alert=Alert.objects.get(patient=patient, tier="same_day"))
    check_in(api, patient, bowel_bladder_loss_or_saddle_numbness=True)
    for _ in range(12):  # a clinic's worth of patients on the surgeon's list
        build_record(PatientFactory(clinic=clinic, surgeon=surgeon), surgeon, days=10)
    foreign_clinic = ClinicFactory()
    foreign = PatientFactory(
        clinic=foreign_clinic, surgeon=StaffFactory(clinic=foreign_clinic, role="surgeon")
    )
    check_in(api, foreign, cannot_move_limb=True)
    return {"surgeon": surgeon, "nurse": nurse, "patient": patient, "foreign": foreign}


def signed_in(new_page, seeded):
    page = new_page(WIDTH, HEIGHT)
    sign_in(page, seeded["surgeon"].email, PASSWORD)
    return page


def test_dashboard_shows_the_emergency_first(new_page, seeded, tmp_path):
    patient = seeded["patient"]
    page = signed_in(new_page, seeded)

    # The dashboard (the admin index) shows the emergency, linked to the patient's timeline,
    # and never another clinic's patient.
    page.goto("/admin/")
    page.screenshot(path=str(tmp_path / "dashboard.png"))
    emergency = page.locator("#tier-emergency .alert-line")
    assert emergency.count() == 1
    assert str(patient) in emergency.inner_text()
    assert "Bowel" in emergency.inner_text() or "bladder" in emergency.inner_text().lower()
    assert emergency.bounding_box()["y"] < HEIGHT
    body = page.locator("#content-main").inner_text()
    assert str(seeded["foreign"]) not in body
    assert page.locator("#model-list-link").count() == 1
    assert str(patient) in page.locator("#dashboard-overdue").inner_text()
    page.click("#tier-emergency a.alert-patient")
    page.wait_for_url(f"**/patientprofile/{patient.pk}/timeline/")


def test_patient_list_shows_the_tier_without_sideways_scrolling(new_page, seeded, tmp_path):
    patient = seeded["patient"]
    page = signed_in(new_page, seeded)

    # The patient list: tier labels, emergency first, no sideways scrolling at 1440 px.
    page.goto("/admin/accounts/patientprofile/")
    page.screenshot(path=str(tmp_path / "patient_list.png"), full_page=True)
    # Neither the page nor the list's own box (Django wraps the table in a scrolling div).
    for selector in ("html", "#changelist .results"):
        widths = page.eval_on_selector(selector, "e => [e.scrollWidth, e.clientWidth]")
        headers_now = page.locator("#result_list thead th").all_inner_texts()
        assert widths[0] <= widths[1], (selector, widths, headers_now)
    headers = [h.strip().lower() for h in page.locator("#result_list thead th").all_inner_texts()]
    assert [h for h in headers if h][:3] == ["patient profile", "open alert", "mrn"]
    assert page.locator("#result_list a.timeline-link").first.is_visible()
    first_row = page.locator("#result_list tbody tr").first
    assert first_row.locator(".tier-label.tier-emergency").count() == 1
    assert patient.mrn in first_row.inner_text()


def test_timeline_opens_with_the_banner_and_the_chart(new_page, seeded, tmp_path):
    patient = seeded["patient"]
    page = signed_in(new_page, seeded)

    # The timeline: the banner above everything, emergency first, escalation state shown.
    page.goto(f"/admin/accounts/patientprofile/{patient.pk}/timeline/")
    page.screenshot(path=str(tmp_path / "timeline_first_screen.png"))
    lines = page.locator("#alert-banner .alert-line")
    assert lines.count() == 2
    assert lines.nth(0).get_attribute("data-tier") == "emergency"
    assert lines.nth(0).get_attribute("data-state") == "waiting"
    assert "Not acknowledged" in lines.nth(0).inner_text()
    assert lines.nth(1).get_attribute("data-tier") == "same_day"
    assert f"Acknowledged by {seeded['nurse']}" in lines.nth(1).inner_text()
    banner = page.locator("#alert-banner").bounding_box()
    header = page.locator("#timeline-header").bounding_box()
    title = page.locator("#content h1").bounding_box()
    assert banner["y"] + banner["height"] <= title["y"] <= header["y"]
    # Visually apart from the overdue items (which are not alerts).
    colours = page.evaluate(
        """() => [
            getComputedStyle(document.querySelector('#alert-banner .tier-emergency')).backgroundColor,
            getComputedStyle(document.querySelector('#overdue')).backgroundColor,
        ]"""
    )
    assert colours[0] != colours[1]
    # The chart, drawn, within the first 900 px.
    chart = page.locator("#pain-chart svg").bounding_box()
    assert chart["height"] > 150 and chart["width"] > 500
    assert chart["y"] + chart["height"] <= HEIGHT, chart
    assert page.locator("#pain-chart circle.pain-point").count() >= 80
    page.screenshot(path=str(tmp_path / "timeline.png"), full_page=True)
