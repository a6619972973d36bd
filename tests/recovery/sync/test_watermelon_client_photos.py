"""The real WatermelonDB client (Node, LokiJS) with wound photos (schema version 6): a photo
uploaded by REST reaches both phones as metadata with a signed URL that fetches the file; the
patient's note written offline on one phone reaches the server and the other phone; a photo
created locally (not uploaded) is refused and kept, and the phone gets the server's truth."""

import pytest

from accounts.tokens import tokens_for
from recovery.photos.models import WoundPhoto
from recovery.photos.services import wound_photo_upload
from recovery.sync.models import RejectedRecord
from tests.recovery.photos.images import jpeg_with_gps

from .helpers import now_ms
from .node_client import Device, NodeClient

pytestmark = [pytest.mark.node, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def node():
    client = NodeClient()
    yield client
    assert client.close() == 0, "the Node client saw WatermelonDB warnings:\n" + "".join(
        client.stderr
    )


def test_an_uploaded_photo_syncs_as_metadata_and_its_note_round_trips(
    node, live_server, patient, client
):
    token = tokens_for(patient.user)["access"]
    a = Device(node, "A", live_server.url, token, schema=6)
    b = Device(node, "B", live_server.url, token, schema=6)
    photo, _ = wound_photo_upload(
        actor=patient.user, patient=patient, data=jpeg_with_gps(), content_type="image/jpeg"
    )
    a.synced()
    b.synced()
    [row] = a.records("wound_photos").values()
    assert row["id"] == photo.pk and row["content_type"] == "image/jpeg"
    # The signed URL fetches the file (relative to the API's host with the filesystem storage).
    fetched = client.get(row["image"])
    assert fetched.status_code == 200
    assert b"".join(fetched.streaming_content)[:2] == b"\xff\xd8"  # a JPEG

    a.update("wound_photos", photo.pk, note="a little red at the top")
    a.synced()
    b.synced()
    assert WoundPhoto.objects.get(pk=photo.pk).note == "a little red at the top"
    assert b.records("wound_photos")[photo.pk]["note"] == "a little red at the top"


def test_a_photo_made_on_the_phone_alone_is_refused_and_kept(node, live_server, patient):
    token = tokens_for(patient.user)["access"]
    a = Device(node, "A", live_server.url, token, schema=6)
    a.synced()
    local = a.create("wound_photos", taken_at=now_ms(), note="no file")
    (answer,) = a.synced()["pushAnswers"]
    assert [(r["table"], r["id"]) for r in answer["rejected"]] == [("wound_photos", local)]
    assert not WoundPhoto.all_objects.filter(pk=local).exists()
    kept = RejectedRecord.objects.get(record_id=local)
    assert kept.table_name == "wound_photos" and kept.raw["note"] == "no file"
    second = a.synced()  # the server has none: the next pull drops it, and says why
    assert second["pushes"] == []
    assert local not in a.records("wound_photos")
    (extra,) = second["didPull"]
    assert [r["errors"][0]["code"] for r in extra["rejected"]] == ["upload_required"]
