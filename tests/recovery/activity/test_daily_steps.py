"""Daily steps: one row per patient and local day over REST and sync, a later count replacing an
earlier one whatever id it came with, two phones converging on one row, the bounds, scope."""

from datetime import timedelta

import pytest
from django.utils import timezone

from recovery.activity.models import DailySteps
from tests import factories
from tests.recovery.sync.helpers import changes, ids, now_ms, pull, push

pytestmark = pytest.mark.django_db
URL = "/api/v1/daily-steps/"
V = 5  # the sync schema version that introduced daily_steps


def _today(patient):
    return timezone.localdate(timezone=patient.tz)


def _post(client, **body):
    return client.post(URL, body, format="json")


# --- REST -------------------------------------------------------------------------------------


def test_create_then_the_same_day_again_replaces_the_count(api, patient):
    client = api(patient.user)
    day = str(_today(patient) - timedelta(days=1))
    first = _post(client, id="steps-a", day=day, steps=3000, source="healthkit")
    assert first.status_code == 201, first.json()
    assert first.json()["steps"] == 3000 and first.json()["day"] == day
    again = _post(client, id="steps-a", day=day, steps=3000, source="healthkit")
    assert again.status_code == 200  # idempotent: the same count again
    later = _post(client, id="steps-a", day=day, steps=4200, source="healthkit")
    assert later.status_code == 200, later.json()
    assert later.json()["steps"] == 4200
    other_id = _post(client, id="steps-b", day=day, steps=5100)
    assert other_id.status_code == 200, other_id.json()
    assert other_id.json()["id"] == "steps-a"  # the day's row, not a second one
    assert other_id.json()["steps"] == 5100
    assert list(DailySteps.objects.filter(patient=patient).values_list("pk", "steps")) == [
        ("steps-a", 5100)
    ]
    # The other id is a tombstone of this patient: a phone holding it is told on its pull.
    assert DailySteps.all_objects.get(pk="steps-b").deleted_at is not None


def test_an_older_count_does_not_replace_a_newer_one(api, patient):
    client = api(patient.user)
    day = str(_today(patient) - timedelta(days=2))
    now = timezone.now().replace(microsecond=0)
    _post(client, id="new", day=day, steps=8000, counted_at=now.isoformat())
    stale = _post(
        client, id="old", day=day, steps=2000, counted_at=(now - timedelta(hours=5)).isoformat()
    )
    assert stale.status_code == 200
    assert stale.json()["steps"] == 8000 and stale.json()["id"] == "new"


@pytest.mark.parametrize(
    ("body", "attr", "code"),
    [
        ({"steps": -1}, "steps", "min_value"),
        ({"steps": 100_001}, "steps", "max_value"),
        ({"steps": "many"}, "steps", "invalid"),
        ({"day": "tomorrow"}, "day", "invalid"),
        ({"source": "pedometer"}, "source", "invalid_choice"),
    ],
)
def test_bad_input_is_a_clear_400(api, patient, body, attr, code):
    values = {"day": str(_today(patient) - timedelta(days=1)), "steps": 100, **body}
    response = _post(api(patient.user), **values)
    assert response.status_code == 400, response.json()
    error = response.json()["errors"][0]
    assert (error["attr"], error["code"]) == (attr, code)
    assert not DailySteps.all_objects.filter(patient=patient).exists()


def test_a_day_in_the_future_of_the_patients_zone_is_refused(api, patient):
    tomorrow = _today(patient) + timedelta(days=1)
    response = _post(api(patient.user), day=str(tomorrow), steps=100)
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "day"
    assert response.json()["errors"][0]["code"] == "in_future"
    assert _post(api(patient.user), day=str(_today(patient)), steps=100).status_code == 201


def test_the_day_of_a_count_does_not_change(api, patient):
    row = factories.daily_steps(patient, day=_today(patient) - timedelta(days=3))
    client = api(patient.user)
    moved = client.patch(f"{URL}{row.pk}/", {"day": str(_today(patient))}, format="json")
    assert moved.status_code == 400 and moved.json()["errors"][0]["code"] == "day_fixed"
    fixed = client.patch(f"{URL}{row.pk}/", {"steps": 777}, format="json")
    assert fixed.status_code == 200 and fixed.json()["steps"] == 777


def test_another_patients_rows_are_404(api, patient, other_patient, surgeon):
    theirs = factories.daily_steps(other_patient, day=_today(other_patient) - timedelta(days=1))
    for client in (api(patient.user),):
        assert client.get(f"{URL}{theirs.pk}/").status_code == 404
        assert client.patch(f"{URL}{theirs.pk}/", {"steps": 1}, format="json").status_code == 404
        assert client.delete(f"{URL}{theirs.pk}/").status_code == 404
        assert client.get(URL).json()["results"] == []
    # Their id cannot be taken over either.
    taken = _post(api(patient.user), id=theirs.pk, day=str(_today(patient)), steps=10)
    assert taken.status_code == 409 and taken.json()["errors"][0]["code"] == "id_taken"
    assert DailySteps.objects.get(pk=theirs.pk).steps == theirs.steps


def test_list_queries_do_not_grow_with_rows(api, patient, django_assert_max_num_queries):
    for back in range(1, 41):
        factories.daily_steps(patient, day=_today(patient) - timedelta(days=back))
    client = api(patient.user)
    with django_assert_max_num_queries(6):
        response = client.get(URL, {"page_size": 100})
    assert response.status_code == 200
    days = [row["day"] for row in response.json()["results"]]
    assert len(days) == 40 and days == sorted(days, reverse=True)  # newest day first


# --- sync ------------------------------------------------------------------------------------


def _raw(id, day, steps, counted_at=None, **values):
    return {
        "id": id,
        "day": str(day),
        "steps": steps,
        "counted_at": counted_at if counted_at is not None else now_ms(),
        "source": "health_connect",
        **values,
    }


def test_two_phones_sending_the_same_day_converge_on_one_row(api, patient):
    phone_a, phone_b = api(patient.user), api(patient.user)
    since_a = pull(phone_a, schema_version=V).json()["timestamp"]
    since_b = pull(phone_b, schema_version=V).json()["timestamp"]
    day = _today(patient) - timedelta(days=1)
    pushed = push(
        phone_a,
        changes(daily_steps={"created": [_raw("aaaa", day, 3000, now_ms(-timedelta(hours=2)))]}),
        since_a,
    )
    assert pushed.status_code == 200 and pushed.json()["rejected"] == [], pushed.content
    # Phone B never pulled A's record: it creates its own for the same day, later counted.
    pushed = push(
        phone_b,
        changes(daily_steps={"created": [_raw("bbbb", day, 4500)]}),
        since_b,
    )
    assert pushed.status_code == 200 and pushed.json()["rejected"] == [], pushed.content
    stored = DailySteps.objects.get(patient=patient, day=day)
    assert (stored.pk, stored.steps) == ("aaaa", 4500)
    # B's pull: the day's row, and its own record deleted.
    body = pull(phone_b, since_b, schema_version=V).json()
    assert ids(body, "daily_steps") == ["aaaa"]
    assert body["changes"]["daily_steps"]["updated"][0]["steps"] == 4500
    assert ids(body, "daily_steps", "deleted") == ["bbbb"]
    # A's pull: the new count of its own row.
    body = pull(phone_a, since_a, schema_version=V).json()
    assert body["changes"]["daily_steps"]["updated"][0]["steps"] == 4500
    # B re-sends its record before having pulled (same id, newer count): merged again, no 409.
    pushed = push(phone_b, changes(daily_steps={"updated": [_raw("bbbb", day, 4800)]}), since_b)
    assert pushed.status_code == 200 and pushed.json()["rejected"] == [], pushed.content
    assert DailySteps.objects.get(patient=patient, day=day).steps == 4800
    again = pull(phone_b, since_b, schema_version=V).json()
    assert ids(again, "daily_steps", "deleted") == ["bbbb"]
    assert DailySteps.objects.filter(patient=patient).count() == 1


def test_a_count_changed_on_the_server_since_the_pull_is_no_conflict(api, patient):
    client = api(patient.user)
    day = _today(patient) - timedelta(days=1)
    factories.daily_steps(patient, id="srv1", day=day, steps=100)
    since = pull(client, schema_version=V).json()["timestamp"]
    factories.daily_steps(patient, id="srv1", day=day, steps=2000)  # another phone, via REST
    pushed = push(client, changes(daily_steps={"updated": [_raw("srv1", day, 2500)]}), since)
    assert pushed.status_code == 200, pushed.content
    assert DailySteps.objects.get(pk="srv1").steps == 2500


def test_a_refused_day_is_kept_in_the_quarantine_and_the_rest_applied(api, patient):
    from recovery.sync.models import RejectedRecord

    client = api(patient.user)
    since = pull(client, schema_version=V).json()["timestamp"]
    today = _today(patient)
    pushed = push(
        client,
        changes(
            daily_steps={
                "created": [
                    _raw("good", today - timedelta(days=1), 1200),
                    _raw("toomany", today - timedelta(days=2), 250_000),
                    _raw("future", today + timedelta(days=2), 10),
                ]
            }
        ),
        since,
    )
    assert pushed.status_code == 200, pushed.content
    rejected = {r["id"]: r["errors"][0] for r in pushed.json()["rejected"]}
    assert set(rejected) == {"toomany", "future"}
    assert rejected["future"]["code"] == "in_future"
    assert list(DailySteps.objects.filter(patient=patient).values_list("pk", flat=True)) == ["good"]
    kept = set(
        RejectedRecord.objects.filter(patient=patient, table_name="daily_steps").values_list(
            "record_id", flat=True
        )
    )
    assert kept == {"toomany", "future"}


def test_older_apps_are_not_sent_the_table(api, patient):
    factories.daily_steps(patient)
    client = api(patient.user)
    assert "daily_steps" not in pull(client, schema_version=4).json()["changes"]
    assert len(pull(client, schema_version=V).json()["changes"]["daily_steps"]["updated"]) == 1


def test_a_long_history_in_one_push(api, patient, django_assert_max_num_queries):
    client = api(patient.user)
    since = pull(client, schema_version=V).json()["timestamp"]
    today = _today(patient)
    records = [_raw(f"d{n}", today - timedelta(days=n), 1000 + n) for n in range(1, 366)]
    with django_assert_max_num_queries(40):
        pushed = push(client, changes(daily_steps={"created": records}), since)
    assert pushed.status_code == 200 and pushed.json()["rejected"] == [], pushed.content
    assert DailySteps.objects.filter(patient=patient).count() == 365
