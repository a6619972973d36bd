"""The demo patient has a wound photo (drawn with Pillow, no file in the repository), uploaded
through the real service into the configured storage, with its thumbnail and the nurse's
review; a reseed neither duplicates it nor brings it back once deleted."""

import pytest
from django.core.management import call_command

from recovery.photos.models import WoundPhoto
from recovery.photos.storage import photo_storage

pytestmark = pytest.mark.django_db


def test_the_demo_has_a_reviewed_wound_photo_kept_once(api):
    call_command("seed_demo", verbosity=0)
    (photo,) = WoundPhoto.objects.select_related("patient__user", "reviewed_by")
    assert photo.patient.user.email == "patient@demo.test"
    assert photo.created_by_id == photo.patient.user_id
    assert (photo.content_type, photo.width, photo.height) == ("image/jpeg", 640, 480)
    assert photo_storage().exists(photo.image.name)
    assert photo_storage().exists(photo.thumbnail.name)
    assert photo.review_outcome == "looks_fine"
    assert photo.reviewed_by.email == "nurse@demo.test"

    client = api(photo.patient.user)
    listed = client.get("/api/v1/wound-photos/").json()["results"]
    assert [row["id"] for row in listed] == [photo.pk]
    assert client.get(listed[0]["image_url"]).status_code == 200

    call_command("seed_demo", verbosity=0)
    assert WoundPhoto.all_objects.count() == 1
    assert client.delete(f"/api/v1/wound-photos/{photo.pk}/").status_code == 204
    call_command("seed_demo", verbosity=0)
    assert WoundPhoto.objects.count() == 0  # deleted stays deleted
