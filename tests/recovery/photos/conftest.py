import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from .images import jpeg_with_gps


def upload_file(data: bytes, content_type: str = "image/jpeg", name: str = "wound.jpg"):
    return SimpleUploadedFile(name, data, content_type=content_type)


@pytest.fixture
def upload(api, patient):
    """POSTs a photo as the patient: ``upload(data=..., content_type=..., **fields)``."""

    def post(data: bytes | None = None, content_type="image/jpeg", user=None, **fields):
        client = api(user or patient.user)
        body = {"image": upload_file(jpeg_with_gps() if data is None else data, content_type)}
        body.update(fields)
        return client.post("/api/v1/wound-photos/", body, format="multipart")

    return post
