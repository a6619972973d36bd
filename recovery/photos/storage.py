"""Where wound photos are kept, and the short-lived signed URLs that are the only way to fetch
one (docs/operations.md, "Wound photo storage").

The storage is Django's ``STORAGES["wound_photos"]`` (django-storages): the local filesystem
under ``var/`` in the embedded default, S3-compatible object storage (MinIO, AWS S3) in
production. Nothing is public:

- S3: a presigned GET URL (``S3Storage.url`` with ``querystring_auth``), valid for
  ``WOUND_PHOTO_URL_MAX_AGE`` seconds; the bucket stays private.
- filesystem: a URL of ``photo_file_view`` (``api.py``) carrying a token signed with the
  project's secret key (``django.core.signing``) that names the file and expires after the same
  number of seconds. The files directory is never served by itself.

A URL is handed out only to someone who may read the record (the patient's sync pull and the
REST answer, the care team's admin page and FHIR export, each already in the caller's scope and
PHI-logged), so the URL is the grant: short-lived, naming one file.
"""

from django.conf import settings
from django.core import signing
from django.core.files.storage import Storage, storages
from django.urls import reverse

STORAGE_ALIAS = "wound_photos"
TOKEN_SALT = "recovery.photos.file"  # noqa: S105 - a signing namespace, not a secret


def photo_storage() -> Storage:
    """The configured storage, looked up on every call (settings can change in tests)."""
    return storages[STORAGE_ALIAS]


def _is_s3(storage: Storage) -> bool:
    try:
        from storages.backends.s3 import S3Storage
    except ImportError:  # pragma: no cover - django-storages[s3] is a dependency
        return False
    return isinstance(storage, S3Storage)


def signed_url(name: str) -> str | None:
    """A short-lived URL to fetch the stored file ``name`` (None for no file)."""
    if not name:
        return None
    storage = photo_storage()
    max_age = settings.WOUND_PHOTO_URL_MAX_AGE
    if _is_s3(storage):
        return storage.url(name, expire=max_age)
    token = signing.dumps({"k": name}, salt=TOKEN_SALT, compress=True)
    return reverse("wound-photo-file", kwargs={"token": token})


def file_token_load(token: str) -> str:
    """The file name a filesystem URL's token names; ``signing.BadSignature`` (of which
    ``SignatureExpired`` is one) when it was not signed here or is older than the max age."""
    payload = signing.loads(token, salt=TOKEN_SALT, max_age=settings.WOUND_PHOTO_URL_MAX_AGE)
    if not isinstance(payload, dict) or not isinstance(payload.get("k"), str):
        raise signing.BadSignature("malformed token")
    return payload["k"]
