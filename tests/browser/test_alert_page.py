"""A nurse acknowledges and a surgeon resolves a red-flag alert from its page, in a real browser."""

import pytest
from django.utils import timezone

from recovery.models import Alert
from tests.factories import PASSWORD

from .conftest import sign_in

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

THREE_CAUSES = {"temperature_c": "38.6", "wound_redness": True, "wound_swelling_or_drainage": True}


def test_acknowledge_and_resolve_from_the_alert_page(new_page, api, patient, surgeon, nurse):
    body = {"answered_at": timezone.now().isoformat(), **THREE_CAUSES}
    assert api(patient.user).post("/api/v1/check-ins/", body, format="json").status_code == 201
    alert = Alert.objects.get(patient=patient)
    local = timezone.localtime(alert.opened_at, patient.tz).strftime("%Y-%m-%d %H:%M")

    page = new_page()
    sign_in(page, nurse.email, PASSWORD)
    page.goto("/admin/recovery/alert/")
    page.click(f"#result_list a[href$='/alert/{alert.pk}/change/']")
    page.wait_for_url(f"**/alert/{alert.pk}/change/")
    page.locator("ul.alert-causes").wait_for()
    causes = page.locator("ul.alert-causes li")
    assert causes.count() == 3
    assert "temperature_c = 38.6" in causes.first.inner_text()
    assert local in page.locator("#content-main").inner_text()
    assert page.locator("#alert-resolve-note").get_attribute("required") is not None

    page.click("#alert-acknowledge-submit")
    page.wait_for_url(f"**/alert/{alert.pk}/change/")
    assert "Acknowledged." in page.locator("ul.messagelist").inner_text()
    assert page.locator("#alert-acknowledge").count() == 0
    alert.refresh_from_db()
    assert (alert.status, alert.acknowledged_by) == ("acknowledged", nurse)

    other = new_page()
    sign_in(other, surgeon.email, PASSWORD)
    other.goto(f"/admin/recovery/alert/{alert.pk}/change/")
    other.fill("#alert-resolve-note", "Seen in clinic: superficial infection, antibiotics.")
    other.click("#alert-resolve-submit")
    other.wait_for_url(f"**/alert/{alert.pk}/change/")
    assert "Resolved." in other.locator("ul.messagelist").inner_text()
    assert other.locator("#alert-lifecycle").count() == 0
    alert.refresh_from_db()
    assert (alert.status, alert.resolved_by.pk, alert.resolution_note) == (
        "resolved",
        surgeon.pk,
        "Seen in clinic: superficial infection, antibiotics.",
    )
