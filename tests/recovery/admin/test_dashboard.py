"""The care team's dashboard at /admin/: open alerts by tier, overdue items, new outcome scores;
scoped, logged, and a fixed number of queries."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import PHIAccess
from recovery.admin.dashboard import care_dashboard
from recovery.care.alerts import alert_acknowledge, alert_resolve
from recovery.models import Alert
from tests.factories import PatientFactory, build_record, milestone, outcome_score

pytestmark = pytest.mark.django_db


def check_in(api, patient, **answers):
    response = api(patient.user).post(
        "/api/v1/check-ins/",
        {"answered_at": timezone.now().isoformat(), **answers},
        format="json",
    )
    assert response.status_code == 201, response.content


def alerts_of(api, patient):
    """One alert of each tier, opened in this order: within 24 hours, same day, emergency."""
    check_in(api, patient, fell=True)
    check_in(api, patient, wound_redness=True)
    check_in(api, patient, bowel_bladder_loss_or_saddle_numbness=True)


def shown_alert_patients(dashboard, tier):
    group = next(g for g in dashboard.tiers if g.tier == tier)
    return [line.alert.patient_id for line in group.lines]


def test_open_alerts_grouped_by_tier_emergency_first(api, surgeon, nurse, patient, client):
    alerts_of(api, patient)
    fall = Alert.objects.get(patient=patient, tier="within_24h")
    alert_resolve(actor=nurse, alert=fall, note="Seen in clinic.")
    alert_acknowledge(actor=nurse, alert=Alert.objects.get(patient=patient, tier="same_day"))

    dashboard = care_dashboard(user=surgeon)
    assert [g.tier for g in dashboard.tiers] == ["emergency", "same_day", "within_24h"]
    assert [(g.alerts, g.patients) for g in dashboard.tiers] == [(1, 1), (1, 1), (0, 0)]
    assert dashboard.tiers[0].lines[0].state == "waiting"
    assert dashboard.tiers[1].lines[0].state == "acknowledged"

    client.force_login(surgeon)
    html = client.get("/admin/").content.decode()
    alerts = html[html.index('id="dashboard-alerts"') : html.index('id="dashboard-overdue"')]
    assert alerts.index('id="tier-emergency"') < alerts.index('id="tier-same_day"')
    assert "New loss of bowel or bladder control" in alerts
    assert f"Acknowledged by {nurse}" in alerts
    assert "Falls" not in alerts and "resolved" not in alerts
    assert f"/admin/accounts/patientprofile/{patient.pk}/timeline/" in alerts
    assert 'href="/admin/models/"' in html


def test_scope_is_the_care_team_and_never_another_clinic(
    api, client, surgeon, patient, other_patient, foreign_patient, clinic_admin
):
    for p in (patient, other_patient, foreign_patient):
        check_in(api, p, bowel_bladder_loss_or_saddle_numbness=True)
    build_record(other_patient, other_patient.surgeon, days=5)
    build_record(foreign_patient, foreign_patient.surgeon, days=5)
    outcome_score(foreign_patient, foreign_patient.surgeon)

    mine = care_dashboard(user=surgeon)
    assert shown_alert_patients(mine, "emergency") == [patient.pk]
    assert mine.tiers[0].alerts == 1
    assert mine.overdue == [] and mine.scores == []

    clinic_wide = care_dashboard(user=clinic_admin)
    assert sorted(shown_alert_patients(clinic_wide, "emergency")) == sorted(
        [patient.pk, other_patient.pk]
    )
    assert [o.patient.pk for o in clinic_wide.overdue] == [other_patient.pk]

    for user in (surgeon, clinic_admin):
        client.force_login(user)
        html = client.get("/admin/").content.decode()
        assert foreign_patient.mrn not in html
        assert foreign_patient.user.last_name not in html
    client.force_login(surgeon)
    assert other_patient.mrn not in client.get("/admin/").content.decode()


def test_overdue_items_and_new_outcome_scores(surgeon, patient):
    build_record(patient, surgeon)  # overdue: one appointment, one milestone, one PT session
    outcome_score(patient, surgeon, completed_at=timezone.now() - timedelta(days=2))
    outcome_score(
        patient, surgeon, timepoint="baseline", completed_at=timezone.now() - timedelta(days=40)
    )

    dashboard = care_dashboard(user=surgeon)
    [row] = dashboard.overdue
    assert (row.patient, row.appointments, row.milestones, row.pt_sessions) == (patient, 1, 1, 1)
    assert dashboard.overdue_patients == 1
    # The last 7 days only: the 6-week score, not the baseline 40 days ago.
    assert [(s.score.timepoint, s.score.patient_id) for s in dashboard.scores] == [
        ("6w", patient.pk)
    ]
    assert dashboard.scores_total == 1


def test_milestones_are_past_target_in_each_patients_own_day(clinic, surgeon):
    # 12:00 UTC on 10 March: already 11 March at UTC+14, still 10 March at UTC-11.
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    ahead = PatientFactory(clinic=clinic, surgeon=surgeon, time_zone="Pacific/Kiritimati")
    behind = PatientFactory(clinic=clinic, surgeon=surgeon, time_zone="Pacific/Pago_Pago")
    for p in (ahead, behind):
        milestone(p, surgeon, target_on=date(2026, 3, 10))

    dashboard = care_dashboard(user=surgeon, now=now)
    assert [(o.patient.pk, o.milestones) for o in dashboard.overdue] == [(ahead.pk, 1)]


def test_every_patient_named_is_logged_once(api, client, surgeon, patient, other_patient):
    check_in(api, patient, wound_redness=True)
    build_record(patient, surgeon)
    check_in(api, other_patient, wound_redness=True)  # not on this surgeon's team
    client.force_login(surgeon)
    assert client.get("/admin/").status_code == 200
    rows = list(PHIAccess.objects.values_list("patient_id", "action", "resource", "path"))
    assert rows == [(patient.pk, "admin_dashboard", "dashboard", "/admin/")]


def test_no_patients_no_log(client, surgeon):
    client.force_login(surgeon)
    html = client.get("/admin/").content.decode()
    assert "Nothing overdue." in html and "None open." in html
    assert not PHIAccess.objects.exists()


def test_model_list_still_available(client, surgeon):
    client.force_login(surgeon)
    response = client.get("/admin/models/")
    assert response.status_code == 200
    assert "/admin/recovery/painlog/" in response.content.decode()
    assert client.post("/admin/", {}).status_code == 405


def test_patients_and_anonymous_never_see_it(client, patient):
    assert client.get("/admin/").status_code == 302
    client.force_login(patient.user)
    assert client.get("/admin/").status_code == 302


def count_queries(client) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/admin/")
    assert response.status_code == 200
    return len(ctx.captured_queries), [q["sql"][:160] for q in ctx.captured_queries]


def test_query_count_does_not_grow_with_patients(api, client, clinic, surgeon, nurse):
    first = PatientFactory(clinic=clinic, surgeon=surgeon, care_team=(nurse,))
    alerts_of(api, first)
    build_record(first, surgeon, days=10)
    outcome_score(first, surgeon)
    client.force_login(surgeon)
    client.get("/admin/")  # warm the session and content types
    one, _ = count_queries(client)

    for n in range(8):
        p = PatientFactory(
            clinic=clinic,
            surgeon=surgeon,
            time_zone=("Europe/Berlin", "Asia/Tokyo")[n % 2],
        )
        alerts_of(api, p)
        build_record(p, surgeon, days=10)
        outcome_score(p, surgeon)
    nine, sql = count_queries(client)
    assert len(care_dashboard(user=surgeon).patient_ids()) == 9
    assert one == nine, "\n".join(sql)  # nine of them are the dashboard, two the log
    assert nine <= 20, "\n".join(sql)
