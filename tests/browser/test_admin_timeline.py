"""A surgeon follows a patient in a real browser; the clinic admin reads the audit trail."""

import pytest

from tests.factories import PASSWORD, StaffFactory, build_record

from .conftest import sign_in

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def people(clinic, surgeon, patient, other_patient):
    build_record(patient, surgeon, days=45)
    build_record(other_patient, other_patient.surgeon, days=5)
    admin = StaffFactory(clinic=clinic, role="clinic_admin")
    return {"surgeon": surgeon, "patient": patient, "other": other_patient, "admin": admin}


def test_surgeon_reads_the_timeline_and_admin_reads_the_audit(new_page, people, tmp_path):
    surgeon, patient, other = people["surgeon"], people["patient"], people["other"]
    page = new_page()
    sign_in(page, surgeon.email, PASSWORD)

    # The patient list shows only the surgeon's patient, with a link to the timeline.
    page.goto("/admin/accounts/patientprofile/")
    assert page.locator("#result_list").inner_text().count(patient.mrn) == 1
    assert other.mrn not in page.locator("#result_list").inner_text()
    page.click(f"a.timeline-link[href$='/{patient.pk}/timeline/']")
    page.wait_for_url(f"**/patientprofile/{patient.pk}/timeline/")
    assert "Post-op day" in page.locator("#timeline-header").inner_text()

    # The chart is drawn: points with real positions, a trend line, the surgery marked.
    chart = page.locator("#pain-chart svg")
    box = chart.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 80
    points = page.locator("#pain-chart circle.pain-point")
    assert points.count() >= 80  # 45 days x back and leg
    first = points.first.bounding_box()
    assert first and first["width"] > 0
    cys = {points.nth(i).get_attribute("cy") for i in range(10)}
    assert len(cys) > 1  # not all on one line
    assert page.locator("#pain-chart polyline.pain-trend").count() == 1
    assert page.locator("#pain-chart .marker-surgery").count() >= 1
    page.screenshot(path=str(tmp_path / "timeline.png"), full_page=True)

    # The events, of several types.
    rows = page.locator("#timeline-events tr.event")
    assert rows.count() > 40
    types = set(rows.evaluate_all("rows => rows.map(r => r.dataset.type)"))
    assert {"pain", "appointment", "pt_session", "milestone", "restriction", "stay"} <= types

    # Filter by type: appointments only, over the whole record.
    page.select_option("#id_period", "all")
    page.check("#timeline-filters input[name=types][value=appointment]")
    page.click("#apply-filters")
    page.wait_for_url("**types=appointment**")
    types = set(
        page.locator("#timeline-events tr.event").evaluate_all(
            "rows => rows.map(r => r.dataset.type)"
        )
    )
    assert types == {"appointment"}
    assert page.locator("#timeline-events tr.event").count() == 1  # 35 days ago (to today)

    # The other surgeon's patient, typed by hand: not found.
    response = page.goto(f"/admin/accounts/patientprofile/{other.pk}/timeline/")
    assert response.status == 404
    response = page.goto(f"/admin/accounts/patientprofile/{other.pk}/change/")
    assert response.status == 404

    # The clinic admin finds the surgeon's visit in the PHI access log.
    admin_page = new_page()
    sign_in(admin_page, people["admin"].email, PASSWORD)
    admin_page.goto("/admin/accounts/phiaccess/?action__exact=timeline")
    log = admin_page.locator("#result_list").inner_text()
    assert "timeline" in log
    assert str(surgeon) in log
    assert str(patient) in log
    assert str(other) not in log  # the 404 left no audit row
