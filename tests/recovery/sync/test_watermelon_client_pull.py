"""The real WatermelonDB client (Node, LokiJS) on the pull's harder days: a first sync in pages
over a connection that drops, while another phone and the care team write; an access token that
expires between pull and push; two phones syncing at the same moment. Each ends with every
device equal to the server, table by table and value by value."""

from datetime import timedelta

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from accounts.tokens import tokens_for
from recovery.models import ActivityRestriction, PainLog
from recovery.record.kinds import PAIN_LOGS, RESTRICTIONS
from recovery.record.writes import record_delete, record_update
from tests import factories as f

from .helpers import pull
from .node_client import Device, NodeClient
from .test_watermelon_client import pain

pytestmark = [pytest.mark.node, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TABLES = (
    "surgeries",
    "hospital_stays",
    "pain_logs",
    "pt_sessions",
    "restrictions",
    "appointments",
    "milestones",
)


@pytest.fixture
def node():
    client = NodeClient()
    yield client
    assert client.close() == 0, "the Node client saw WatermelonDB warnings:\n" + "".join(
        client.stderr
    )


def assert_same_as_server(device, api, patient):
    """The device holds exactly the server's live rows, with the server's values, all synced."""
    body = pull(api(patient.user)).json()
    for table in TABLES:
        server = {raw["id"]: raw for raw in body["changes"][table]["updated"]}
        local = device.records(table)
        assert set(local) == set(server), table
        for record_id, raw in server.items():
            mine = local[record_id]
            assert mine.pop("_status") == "synced", (table, record_id)
            assert {k: mine.get(k) for k in raw} == raw, (table, record_id)


def history(patient, surgeon):
    f.year_of_history(patient, surgeon, days=8, per_day=4)
    for log in PainLog.objects.filter(patient=patient)[:2]:
        record_delete(PAIN_LOGS, actor=patient.user, record=log)


def test_a_paged_first_sync_survives_a_dropped_connection_and_writes_between_pages(
    node, live_server, api, patient, surgeon
):
    history(patient, surgeon)
    token = tokens_for(patient.user)["access"]
    other = Device(node, "other", live_server.url, token)
    other.synced()
    phone = Device(node, "new", live_server.url, token)
    offline = phone.create("pain_logs", **pain(notes="logged before the first sync"))
    live = PainLog.objects.filter(patient=patient).count()
    rows = live + 2 + ActivityRestriction.objects.filter(patient=patient).count()

    phone.drop_connection(pages=1)
    dropped = phone.sync(pageSize=6)  # page 1 arrives, the request for page 2 fails
    assert dropped["synced"] is False and "dropped" in dropped["message"]
    assert [p["records"] for p in dropped["pulls"]] == [6]
    assert phone.cursor() is not None  # page 1 is applied and the phone knows where it stopped
    assert len(phone.records("pain_logs")) >= 1
    assert PainLog.objects.filter(pk=offline).exists()  # pushed with page 1

    # Between the pages: the other phone and the surgeon write.
    logs = list(
        PainLog.objects.filter(patient=patient).exclude(pk=offline).order_by("sync_version")
    )
    other.update("pain_logs", logs[-1].id, intensity=1, notes="edited on the other phone")
    other.delete("pain_logs", logs[0].id)
    added = other.create("pain_logs", **pain(intensity=9))
    other.synced()
    rule = ActivityRestriction.objects.filter(patient=patient).order_by("sync_version").first()
    record_update(RESTRICTIONS, actor=surgeon, record=rule, instructions="Raised by the surgeon")

    resumed = phone.synced(pageSize=6)
    assert resumed["refusedCursors"] == []
    assert resumed["pulls"][0]["lastPulledAt"] == dropped["pulls"][0]["timestamp"]
    assert all(p["records"] <= 6 for p in resumed["pulls"])
    assert sum(p["records"] for p in dropped["pulls"] + resumed["pulls"]) <= rows + 6
    assert phone.cursor() is None

    phone.synced(pageSize=6)  # the next pull, from the snapshot: what was written meanwhile
    assert_same_as_server(phone, api, patient)
    local = phone.records("pain_logs")
    assert logs[0].id not in local
    assert local[logs[-1].id]["notes"] == "edited on the other phone"
    assert added in local and offline in local
    assert phone.records("restrictions")[rule.id]["instructions"] == "Raised by the surgeon"
    other.synced()
    assert_same_as_server(other, api, patient)


def test_a_refused_cursor_falls_back_to_the_last_timestamp(
    node, live_server, api, patient, surgeon, other_patient
):
    history(patient, surgeon)
    f.year_of_history(other_patient, other_patient.surgeon, days=2, per_day=2)
    phone = Device(node, "phone", live_server.url, tokens_for(patient.user)["access"])
    phone.drop_connection(pages=1)
    assert phone.sync(pageSize=10)["synced"] is False
    # The stored cursor is one the server will not take: another patient's (a shared phone).
    theirs = Device(node, "theirs", live_server.url, tokens_for(other_patient.user)["access"])
    theirs.drop_connection(pages=1)
    assert theirs.sync(pageSize=2)["synced"] is False
    phone.set_cursor(theirs.cursor())

    result = phone.synced(pageSize=10)
    assert result["refusedCursors"] == ["invalid_cursor"]
    assert_same_as_server(phone, api, patient)


def expired_access_token(user) -> str:
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(seconds=30))
    return str(token)


def test_an_access_token_expiring_between_pull_and_push(node, live_server, api, patient, surgeon):
    history(patient, surgeon)
    tokens = tokens_for(patient.user)
    phone = Device(node, "phone", live_server.url, tokens["access"], refresh=tokens["refresh"])
    phone.synced()
    written = phone.create("pain_logs", **pain(notes="written offline"))

    assert phone.sync(pauseBeforePush=True) == {"paused": True}  # pulled with a good token
    phone.client("token", device="phone", token=expired_access_token(patient.user))
    result = phone.resume()  # the push meets a 401, refreshes the token, sends again
    assert result["synced"] is True, result
    assert result["refreshes"] == 1
    assert PainLog.objects.get(pk=written).notes == "written offline"

    # Without a usable refresh token the sync fails, and nothing is lost: the record waits.
    second = phone.create("pain_logs", **pain(notes="second"))
    assert phone.sync(pauseBeforePush=True) == {"paused": True}
    phone.client(
        "token", device="phone", token=expired_access_token(patient.user), refresh="not-a-token"
    )
    failed = phone.resume()
    assert (failed["synced"], failed["status"]) == (False, 401)
    assert not PainLog.objects.filter(pk=second).exists()
    assert phone.records("pain_logs")[second]["_status"] == "created"

    fresh = tokens_for(patient.user)
    phone.client("token", device="phone", token=fresh["access"], refresh=fresh["refresh"])
    phone.synced()
    assert PainLog.objects.get(pk=second).notes == "second"
    phone.synced()  # the server's values (created_at, created_by...) come back with a pull
    assert_same_as_server(phone, api, patient)


@pytest.mark.parametrize("page_size", [None, 5])
def test_two_phones_syncing_at_once_lose_nothing(
    node, live_server, api, patient, surgeon, page_size
):
    history(patient, surgeon)
    token = tokens_for(patient.user)["access"]
    a = Device(node, "A", live_server.url, token)
    b = Device(node, "B", live_server.url, token)
    a.synced(pageSize=page_size)
    b.synced(pageSize=page_size)
    logs = list(PainLog.objects.filter(patient=patient).order_by("id")[:2])
    a.update("pain_logs", logs[0].id, notes="from A")
    b.update("pain_logs", logs[1].id, notes="from B")
    made = [a.create("pain_logs", **pain(notes="A's")), b.create("pain_logs", **pain(notes="B's"))]
    f.pain_log(patient, notes="from the web")

    both = node("syncTogether", devices=["A", "B"], pageSize=page_size)
    assert [r["synced"] for r in both] == [True, True], both

    a.synced(pageSize=page_size)
    b.synced(pageSize=page_size)
    for phone in (a, b):
        assert_same_as_server(phone, api, patient)
    assert PainLog.objects.get(pk=logs[0].id).notes == "from A"
    assert PainLog.objects.get(pk=logs[1].id).notes == "from B"
    assert set(made) <= set(PainLog.objects.values_list("id", flat=True))
