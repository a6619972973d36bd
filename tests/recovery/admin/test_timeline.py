"""The patient timeline: header, chart, events, filters, scope, audit, query count."""

import re
from datetime import UTC, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import PHIAccess
from recovery.admin.timeline import alert_lines, timeline_for_patient, timeline_header
from recovery.admin.timeline.events import pain_daily_stats, pain_trend
from recovery.care.alerts import alert_acknowledge, alert_resolve, alerts_escalate_due
from recovery.models import Alert
from recovery.record.kinds import PAIN_LOGS, SURGERIES
from recovery.record.writes import record_create
from tests.factories import PatientFactory, build_record, bulk_history, hospital_stay

pytestmark = pytest.mark.django_db


def url(patient, **params):
    return f"/admin/accounts/patientprofile/{patient.pk}/timeline/", params


def get(client, patient, **params):
    path, query = url(patient, **params)
    return client.get(path, query)


def event_types_shown(html: str) -> set[str]:
    return set(re.findall(r'data-type="([a-z_]+)"', html))


def test_header_shows_the_recovery_at_a_glance(client, surgeon, patient, record):
    client.force_login(surgeon)
    response = get(client, patient)
    assert response.status_code == 200
    html = response.content.decode()
    header = html[html.index('id="timeline-header"') : html.index('id="timeline-filters"')]
    assert patient.user.full_name in header
    assert f"{patient.age_on(timezone.localdate(timezone=patient.tz))} years" in header
    performed_on = record["surgery"].performed_on.isoformat()
    assert f"Revision Hardware Revision L4-L5-S1 (lumbar) on {performed_on}" in header
    assert "pseudarthrosis, hardware complication" in header
    assert "Prior surgery: fusion L4-L5" in header
    assert "Post-op day <strong>30</strong>" in header
    assert "length of stay 3 nights" in header
    assert "No lifting over 10 lb:" in header and "12 days left" in header
    assert "No driving:" in header and "until lifted" in header
    assert "Follow Up on" in header
    # Overdue: the appointment 20 days ago still scheduled, the milestone past target, the
    # planned PT session yesterday.
    assert "Overdue items (3)" in header
    assert timeline_header(patient=patient).overdue_count == 3
    assert 'Milestone "Off opioids" past its target' in header


def test_header_selector_in_the_patients_zone(patient, surgeon):
    # 03:30 UTC is still the previous day in New York.
    now = timezone.datetime(2026, 3, 10, 3, 30, tzinfo=UTC)
    record_create(
        SURGERIES,
        actor=surgeon,
        patient=patient,
        performed_on=timezone.datetime(2026, 3, 1).date(),
        region="lumbar",
        levels="L5-S1",
        procedure="fusion",
    )
    header = timeline_header(patient=patient, now=now)
    assert header.today.isoformat() == "2026-03-09"
    assert header.post_op_day == 8


def test_chart_draws_daily_points_trend_and_markers(client, surgeon, patient, record):
    client.force_login(surgeon)
    html = get(client, patient, period="90").content.decode()
    chart = html[html.index('id="pain-chart"') :]
    chart = chart[: chart.index("</svg>")]
    # 30 days x 2 locations (the patient logs back and leg pain daily); a day or two may fall
    # on the day before in the patient's zone, so count the points we expect from the data.
    stats = pain_daily_stats(
        patient=patient,
        since=timezone.localdate(timezone=patient.tz) - timedelta(days=89),
        until=timezone.localdate(timezone=patient.tz),
    )
    assert chart.count('class="pain-point"') == len(stats) >= 58
    assert 'class="pain-trend"' in chart
    assert 'data-location="back"' in chart and 'data-location="leg"' in chart
    assert chart.count('class="marker-surgery"') == 1  # the prior surgery is outside the window
    # The appointment 20 days ago is marked; the one in two weeks is after the window.
    assert chart.count('class="marker-appointment"') == 1


def test_daily_stats_are_per_local_day_and_location(patient):
    tz = patient.tz
    day = timezone.datetime(2026, 6, 1).date()
    for hour, intensity, location in ((1, 2, "back"), (22, 6, "back"), (23, 5, "leg")):
        when = timezone.datetime(2026, 6, 1, hour, tzinfo=tz)
        record_create(
            PAIN_LOGS,
            actor=patient.user,
            patient=patient,
            recorded_at=when,
            intensity=intensity,
            location=location,
        )
    # 23:00 in New York on June 1 is June 2 in UTC: still June 1 for the patient.
    stats = pain_daily_stats(patient=patient, since=day, until=day)
    assert [(s.day, s.location, s.mean, s.low, s.high, s.count) for s in stats] == [
        (day, "back", 4.0, 2, 6, 2),
        (day, "leg", 5.0, 5, 5, 1),
    ]


def test_trend_is_a_trailing_weighted_seven_day_mean():
    from recovery.admin.timeline.events import PainDay

    d0 = timezone.datetime(2026, 1, 1).date()
    days = [PainDay(d0 + timedelta(days=i), "back", float(i), i, i, 1, 0) for i in range(10)]
    trend = dict(pain_trend(days))
    assert trend[d0] == 0.0
    assert trend[d0 + timedelta(days=6)] == 3.0  # mean of 0..6
    assert trend[d0 + timedelta(days=9)] == 6.0  # mean of 3..9


def test_events_in_time_order_of_every_type(client, surgeon, patient, record):
    client.force_login(surgeon)
    html = get(client, patient, period="90", order="oldest").content.decode()
    assert event_types_shown(html) == {
        "surgery",
        "stay",
        "pain",
        "pt_session",
        "appointment",
        "milestone",
        "restriction",
    }
    timeline = timeline_for_patient(patient=patient, newest_first=False)
    stamps = [e.at for e in timeline.events]
    assert stamps == sorted(stamps)
    titles = [e.title for e in timeline.events]
    assert "Admitted" in titles and any(t.startswith("Discharged") for t in titles)
    assert any(t.startswith("Restriction starts: no lifting") for t in titles)
    # Pain logs are grouped: one event per local day.
    pain_days = [e.day for e in timeline.events if e.type == "pain"]
    assert len(pain_days) == len(set(pain_days))


def test_filter_by_type_and_date(client, surgeon, patient, record):
    client.force_login(surgeon)
    html = get(client, patient, period="90", types=["appointment", "milestone"]).content.decode()
    assert event_types_shown(html) == {"appointment", "milestone"}
    today = timezone.localdate(timezone=patient.tz)
    since = today - timedelta(days=3)
    html = get(
        client,
        patient,
        period="custom",
        since=since.isoformat(),
        until=today.isoformat(),
        types=["pain"],
    ).content.decode()
    shown_days = re.findall(r"event-pain[^>]*>\s*<td>(\d{4}-\d{2}-\d{2})</td>", html)
    assert shown_days and all(since.isoformat() <= d <= today.isoformat() for d in shown_days)


def test_long_histories_are_paginated(client, surgeon, patient):
    bulk_history(patient, surgeon, days=400)
    client.force_login(surgeon)
    html = get(client, patient, period="all").content.decode()
    assert "page 1 of" in html
    assert html.count('class="event ') == 100
    page2 = get(client, patient, period="all", page=2).content.decode()
    assert "page 2 of" in page2


def test_timeline_is_read_only(client, surgeon, patient):
    client.force_login(surgeon)
    path, _ = url(patient)
    assert client.post(path, {}).status_code == 405


def test_another_patients_timeline_is_404_and_not_logged(client, surgeon, other_patient):
    client.force_login(surgeon)
    assert get(client, other_patient).status_code == 404
    assert get(client, other_patient.__class__(pk=999999)).status_code == 404
    assert not PHIAccess.objects.exists()


def test_each_view_writes_one_phi_row(client, surgeon, patient):
    client.force_login(surgeon)
    get(client, patient)
    row = PHIAccess.objects.get()
    assert (row.user, row.patient, row.action, row.clinic_id) == (
        surgeon,
        patient,
        "timeline",
        patient.clinic_id,
    )
    assert row.path.startswith(f"/admin/accounts/patientprofile/{patient.pk}/timeline/")


ctx_log: list = []


def count_queries(client, patient, **params):
    with CaptureQueriesContext(connection) as ctx:
        response = get(client, patient, **params)
    assert response.status_code == 200
    ctx_log[:] = ctx.captured_queries
    return len(ctx.captured_queries)


def test_query_count_is_the_same_for_a_month_and_three_years(client, surgeon, clinic, nurse):
    month = PatientFactory(clinic=clinic, surgeon=surgeon)
    years = PatientFactory(clinic=clinic, surgeon=surgeon)
    bulk_history(month, surgeon, days=30)
    sizes = bulk_history(years, surgeon, days=3 * 365)
    assert sizes["pain"] > 3000 and sizes["pt"] > 150
    client.force_login(surgeon)
    get(client, month)  # warm the session and content types
    small = count_queries(client, month, period="all")
    large = count_queries(client, years, period="all")
    windowed = count_queries(client, years)
    assert small == large == windowed, "\n".join(q["sql"][:150] for q in ctx_log)
    assert large <= 45, "\n".join(q["sql"][:150] for q in ctx_log)  # one per event source + header


def test_empty_record_renders(client, surgeon, patient):
    client.force_login(surgeon)
    html = get(client, patient).content.decode()
    assert "No surgery recorded" in html
    assert "No pain logs in this period" in html
    assert "No events in this period." in html


@pytest.mark.parametrize(
    "params",
    [
        {"period": "custom", "since": "not-a-date"},
        {"period": "custom", "since": "2026-05-01", "until": "2026-01-01"},
        {"period": "bogus", "types": ["nope"], "page": "-3"},
        {"page": "99999"},
    ],
)
def test_bad_filters_are_a_page_not_a_500(client, surgeon, patient, record, params):
    client.force_login(surgeon)
    response = get(client, patient, **params)
    assert response.status_code == 200


# --- the alert banner and the hospital stays (issue 19, items 4 and 10) ----------------------


def _check_in(api, patient, **answers):
    response = api(patient.user).post(
        "/api/v1/check-ins/",
        {"answered_at": timezone.now().isoformat(), **answers},
        format="json",
    )
    assert response.status_code == 201, response.content


def test_banner_above_everything_most_urgent_first_with_escalation_state(
    api, client, clinic, surgeon, nurse
):
    patient = PatientFactory(
        clinic=clinic, surgeon=surgeon, care_team=(nurse,), time_zone="Asia/Tokyo"
    )
    build_record(patient, surgeon)  # overdue items too: not alerts
    _check_in(api, patient, fell=True)  # within 24 hours, escalated below
    alerts_escalate_due(now=timezone.now() + timedelta(days=2))
    _check_in(api, patient, wound_redness=True)  # same day, acknowledged
    alert_acknowledge(actor=nurse, alert=Alert.objects.get(patient=patient, tier="same_day"))
    _check_in(api, patient, bowel_bladder_loss_or_saddle_numbness=True)  # emergency, waiting
    escalated = Alert.objects.get(patient=patient, tier="within_24h")
    _check_in(api, patient, temperature_c="38.5")  # same day, then resolved: not shown
    alert_resolve(
        actor=nurse,
        alert=Alert.objects.get(patient=patient, tier="same_day", status="open"),
        note="Seen.",
    )

    client.force_login(surgeon)
    html = get(client, patient).content.decode()
    banner = html[html.index('id="alert-banner"') : html.index("</section>")]
    assert html.index('id="alert-banner"') < html.index("<h1>") < html.index('id="timeline-header"')
    tiers = re.findall(r'class="alert-line tier-([a-z_0-9]+) state-([a-z]+)"', banner)
    assert tiers == [
        ("emergency", "waiting"),
        ("same_day", "acknowledged"),
        ("within_24h", "escalated"),
    ]
    assert "Not acknowledged: acknowledge by" in banner and "min left" in banner
    assert f"Acknowledged by {nurse} at" in banner
    assert "NOT ACKNOWLEDGED: escalated to the surgeon at" in banner
    assert "Fever" not in banner
    assert " JST" in banner and " UTC" not in banner  # the patient's zone
    assert f"/admin/recovery/alert/{escalated.pk}/change/" in banner
    # Overdue items stay in the header, styled apart from alerts.
    assert 'class="tl-overdue" id="overdue"' in html
    assert "Overdue items (3) <span" in html


def test_alert_lines_state_and_time_open(api, patient):
    _check_in(api, patient, wound_redness=True)
    alert = Alert.objects.get(patient=patient)
    soon = alert.opened_at + timedelta(minutes=75)
    late = alert.acknowledge_by + timedelta(minutes=1)
    [line] = alert_lines([alert], now=soon)
    assert (line.state, line.open_for, line.time_left) == ("waiting", "1 h 15 min", "2 h 45 min")
    [line] = alert_lines([alert], now=late)
    assert line.state == "overdue"  # past its deadline, not yet escalated
    assert alert_lines([alert], now=alert.opened_at + timedelta(days=3, hours=5))[0].open_for == (
        "3 d 5 h"
    )


def test_no_open_alert_says_so(client, surgeon, patient, record):
    client.force_login(surgeon)
    html = get(client, patient).content.decode()
    assert 'class="alert-line alert-none">No open alerts' in html


def test_header_lists_every_hospital_stay(client, surgeon, patient, record):
    revision = record["surgery"]
    first = record["stay"]
    again = hospital_stay(
        patient,
        surgeon,
        surgery=revision,
        admitted_at=first.discharged_at + timedelta(days=6),
        facility="Ward 4",
    )
    header = timeline_header(patient=patient)
    assert [(s.stay.pk, s.label) for s in header.stays] == [
        (first.pk, "Index stay"),
        (again.pk, "Readmission 1"),
    ]
    assert header.stays[0].length_of_stay == 3 and header.stays[1].inpatient_days is not None

    client.force_login(surgeon)
    html = get(client, patient).content.decode()
    section = html[html.index('id="timeline-header"') : html.index('id="timeline-filters"')]
    assert "<em>Index stay</em>: admitted" in section and "length of stay 3 nights" in section
    assert "<em>Readmission 1</em>: admitted" in section and "at Ward 4" in section
    assert "inpatient, day" in section


def test_steps_chart_shows_percent_of_baseline_and_the_expected_curve(client, surgeon, patient):
    from recovery.activity.services import daily_steps_put
    from tests.factories import surgery

    today = timezone.localdate(timezone=patient.tz)
    op = surgery(patient, surgeon, performed_on=today - timedelta(days=10)).performed_on
    rows = [(op - timedelta(days=n), 8000) for n in range(1, 15)]
    rows += [(op + timedelta(days=2), 2000), (op + timedelta(days=9), 6000)]
    daily_steps_put(
        actor=patient.user,
        patient=patient,
        items=[(None, {"day": d, "steps": v}) for d, v in rows],
    )
    client.force_login(surgeon)
    html = get(client, patient, period="30").content.decode()
    chart = html[html.index('<svg xmlns="http://www.w3.org/2000/svg" class="steps-chart"') :]
    chart = chart[: chart.index("</svg>")]
    assert 'data-baseline="8000"' in chart
    assert "median of 14 days" in html
    assert f'data-day="{op + timedelta(days=2)}" data-steps="2000" data-percent="25.0"' in chart
    assert f'data-day="{op + timedelta(days=9)}" data-steps="6000" data-percent="75.0"' in chart
    assert 'class="steps-expected"' in chart and 'class="steps-baseline"' in chart
    assert "(expected 29%)" in chart  # post-op day 2


def test_steps_chart_without_a_baseline_says_so(client, surgeon, patient):
    from tests.factories import daily_steps, surgery

    today = timezone.localdate(timezone=patient.tz)
    surgery(patient, surgeon, performed_on=today - timedelta(days=10))
    daily_steps(patient, day=today - timedelta(days=1), steps=3000)
    client.force_login(surgeon)
    html = get(client, patient).content.decode()
    assert "No baseline: fewer than 7 days of steps" in html
    assert 'class="steps-expected"' not in html
    assert 'data-steps="3000" data-percent=""' in html
