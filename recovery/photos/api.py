"""Wound photos over REST (docs/api.md, "Wound photos").

- ``POST /api/v1/wound-photos/``: the patient uploads a photo (multipart: ``image``, ``id``,
  ``note``, ``taken_at``); the metadata then reaches the phones by sync (table
  ``wound_photos``). Idempotent by ``id``.
- ``GET /api/v1/wound-photos/`` and ``/{id}/``: the rows with fresh signed URLs (the patient's
  own; the care team's patients', PHI-logged).
- ``DELETE /api/v1/wound-photos/{id}/``: the patient withdraws a photo (a caregiver one they
  uploaded): a tombstone.
- ``POST /api/v1/wound-photos/{id}/review/``: the care team's review.
- ``GET /api/v1/wound-photo-files/{token}/``: the file, for the filesystem storage only (S3
  answers presigned URLs itself). The token is the grant: signed, short-lived, one file.
"""

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db.models import Q
from django.http import FileResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.audit import phi_access_record
from accounts.models import CaregiverScope
from accounts.roles import is_caregiver
from accounts.selectors import own_patient_id, patients_for
from config.api.openapi import errors
from config.api.pagination import KeysetCursor, PageQuery, next_page_url, page_serializer
from config.api.serializers import StrictSerializer
from config.errors import Forbidden, Invalid, NotFound
from recovery.record.models import RECORD_ID_PATTERN

from .images import FORMATS
from .models import ReviewOutcome, WoundPhoto
from .selectors import wound_photo_get, wound_photos_for
from .services import (
    photo_too_large,
    wound_photo_delete,
    wound_photo_review,
    wound_photo_upload,
)
from .storage import file_token_load, photo_storage, signed_url

RESOURCE = "wound_photos"
PATIENTS_ONLY = "Wound photos are uploaded by the patient, or a caregiver the patient lets log."
# Multipart framing (boundaries, the other fields) on top of the file itself.
MULTIPART_OVERHEAD = 64 * 1024


class UploadInput(StrictSerializer):
    id = serializers.RegexField(
        RECORD_ID_PATTERN,
        required=False,
        help_text="client-chosen id (1-36 of A-Z a-z 0-9 _ -): a retry with it never duplicates",
    )
    image = serializers.FileField(
        allow_empty_file=False,
        help_text="the photo: image/jpeg, image/png or image/webp, at most WOUND_PHOTO_MAX_BYTES",
    )
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    taken_at = serializers.DateTimeField(required=False, help_text="default: now")


class ReviewInput(StrictSerializer):
    review_outcome = serializers.ChoiceField(choices=ReviewOutcome.choices)
    review_comment = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default=""
    )


class WoundPhotoOutput(serializers.Serializer):
    id = serializers.CharField()
    patient = serializers.IntegerField(source="patient_id")
    taken_at = serializers.DateTimeField()
    note = serializers.CharField()
    content_type = serializers.CharField()
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    byte_size = serializers.IntegerField(allow_null=True)
    image_url = serializers.SerializerMethodField(
        help_text="signed URL of the photo, valid for WOUND_PHOTO_URL_MAX_AGE seconds"
    )
    thumbnail_url = serializers.SerializerMethodField(
        help_text="signed URL of the thumbnail; null until the worker has made it"
    )
    urls_expire_at = serializers.SerializerMethodField()
    review_outcome = serializers.CharField(help_text="looks_fine, come_in, or empty")
    review_comment = serializers.CharField()
    reviewed_by = serializers.IntegerField(source="reviewed_by_id", allow_null=True)
    reviewed_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_image_url(self, photo) -> str | None:
        return signed_url(photo.image.name)

    def get_thumbnail_url(self, photo) -> str | None:
        return signed_url(photo.thumbnail.name)

    def get_urls_expire_at(self, photo) -> str:
        expires = timezone.now() + timedelta(seconds=settings.WOUND_PHOTO_URL_MAX_AGE)
        return serializers.DateTimeField().to_representation(expires)


class ListQuery(StrictSerializer, PageQuery):
    patient = serializers.IntegerField(required=False, help_text="clinicians: one patient")


PAGE = page_serializer(WoundPhotoOutput, "WoundPhoto")


def _log(request, photos, action: str, object_id: str = "") -> None:
    phi_access_record(
        user=request.user,
        patient_ids={p.patient_id for p in photos},
        action=action,
        resource=RESOURCE,
        request=request,
        object_id=object_id,
    )


def _declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


class WoundPhotoListView(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        summary="Wound photos, newest first by taken_at",
        parameters=[ListQuery],
        responses={200: PAGE, **errors(400, 401)},
        operation_id="wound_photos_list",
    )
    def get(self, request):
        query = ListQuery().run_validation(request.query_params)
        rows = wound_photos_for(request.user).select_related("patient")
        patient_id = query.get("patient")
        if patient_id is not None:
            mine = own_patient_id(request.user)
            in_scope = (
                patient_id == mine
                if mine is not None
                else patients_for(request.user).filter(pk=patient_id).exists()
            )
            if not in_scope:
                raise Invalid(
                    "No such patient in your care.", code="does_not_exist", attr="patient"
                )
            rows = rows.filter(patient_id=patient_id)
        if cursor := query.get("cursor"):
            after = KeysetCursor.decode(cursor, sort_type="datetime")
            rows = rows.filter(
                Q(taken_at__lt=after.value) | Q(taken_at=after.value, id__lt=after.row_id)
            )
        page_size = query.get("page_size", 50)
        page = list(rows.order_by("-taken_at", "-id")[: page_size + 1])
        next_cursor = None
        if len(page) > page_size:
            page = page[:page_size]
            next_cursor = KeysetCursor(page[-1].taken_at, page[-1].pk).encode()
        _log(request, page, "list")
        return Response(
            {
                "next": next_page_url(request, next_cursor),
                "results": WoundPhotoOutput(page, many=True).data,
            }
        )

    @extend_schema(
        summary="Upload a wound photo (patient)",
        request={"multipart/form-data": UploadInput},
        parameters=[
            OpenApiParameter(
                "patient",
                OpenApiTypes.INT,
                description="A caregiver's upload: the patient whose grant carries `log`.",
            )
        ],
        responses={
            201: OpenApiResponse(WoundPhotoOutput, description="Stored."),
            200: OpenApiResponse(
                WoundPhotoOutput, description="This `id` was uploaded before with these bytes."
            ),
            **errors(
                400,
                401,
                403,
                409,
                413,
                415,
                s400="Bad input, or the file is not a readable image (`not_an_image`).",
                s403=PATIENTS_ONLY,
                s409="The `id` was uploaded with other bytes, deleted, or is another record's.",
                s413="The file is over `max_bytes`, or the image over `max_pixels`.",
                s415="Not a JPEG, PNG or WebP image, or not the type it is sent as.",
            ),
        },
        operation_id="wound_photo_upload",
    )
    def post(self, request):
        if not (request.user.is_patient or is_caregiver(request.user)):
            raise Forbidden(PATIENTS_ONLY, code="permission_denied")
        # Refused before the body is read: the declared length alone is over the limit.
        if _declared_length(request) > settings.WOUND_PHOTO_MAX_BYTES + MULTIPART_OVERHEAD:
            raise photo_too_large()
        data = UploadInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        upload = values.pop("image")
        if upload.size > settings.WOUND_PHOTO_MAX_BYTES:
            raise photo_too_large()
        patient = _uploader_patient(request)
        photo, created = wound_photo_upload(
            actor=request.user,
            patient=patient,
            data=upload.read(),
            content_type=upload.content_type or "",
            **values,
        )
        return Response(
            WoundPhotoOutput(photo).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


def _uploader_patient(request):
    """The patient's own record; for a caregiver, ``?patient=`` among the patients whose
    grant carries ``log`` (404 otherwise)."""
    if request.user.is_patient:
        patient = patients_for(request.user).first()
        if patient is None:
            raise Forbidden("This account has no patient record.", code="permission_denied")
        return patient
    raw = request.query_params.get("patient", "")
    patient = (
        patients_for(request.user, CaregiverScope.LOG).filter(pk=int(raw)).first()
        if raw.isdigit()
        else None
    )
    if patient is None:
        raise NotFound("No such patient in your care (?patient=).", code="not_found")
    return patient


class WoundPhotoDetailView(APIView):
    @extend_schema(
        summary="One wound photo, with fresh signed URLs",
        responses={200: WoundPhotoOutput, **errors(401, 404)},
        operation_id="wound_photo_retrieve",
    )
    def get(self, request, photo_id: str):
        photo = wound_photo_get(request.user, photo_id)
        _log(request, [photo], "retrieve", photo.pk)
        return Response(WoundPhotoOutput(photo).data)

    @extend_schema(
        summary="Delete a wound photo (the patient; a caregiver, the photos they uploaded)",
        request=None,
        responses={204: None, **errors(401, 403, 404)},
        operation_id="wound_photo_destroy",
    )
    def delete(self, request, photo_id: str):
        photo = wound_photo_get(request.user, photo_id)
        wound_photo_delete(actor=request.user, photo=photo)
        _log(request, [photo], "delete", photo.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WoundPhotoReviewView(APIView):
    @extend_schema(
        summary="Review a wound photo (care team)",
        request=ReviewInput,
        responses={200: WoundPhotoOutput, **errors(400, 401, 403, 404, 409)},
        operation_id="wound_photo_review",
    )
    def post(self, request, photo_id: str):
        photo = wound_photo_get(request.user, photo_id)
        data = ReviewInput(data=request.data)
        data.is_valid(raise_exception=True)
        photo = wound_photo_review(
            actor=request.user,
            photo=photo,
            outcome=data.validated_data["review_outcome"],
            comment=data.validated_data["review_comment"],
        )
        _log(request, [photo], "review", photo.pk)
        return Response(WoundPhotoOutput(photo).data)


CONTENT_TYPES = {extension: content_type for content_type, (_, extension) in FORMATS.items()}


class WoundPhotoFileView(APIView):
    """The file behind a filesystem signed URL. No session or token: the signed URL is the
    grant (as an S3 presigned URL is), valid ``WOUND_PHOTO_URL_MAX_AGE`` seconds."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="A wound photo's file (filesystem storage's signed URL)",
        responses={
            (200, "image/*"): OpenApiResponse(description="The image bytes."),
            **errors(404, s404="Unknown, tampered or expired link."),
        },
        operation_id="wound_photo_file",
    )
    def get(self, request, token: str):
        try:
            name = file_token_load(token)
        except signing.BadSignature as exc:
            raise NotFound("This link is unknown or has expired.", code="not_found") from exc
        # The file must still belong to a live photo (a deleted photo's links stop working).
        # Keys are "<patient>/<photo id>/<digest>.<ext>" (services.py): look up by primary key.
        parts = name.split("/")
        live = (
            len(parts) == 3
            and WoundPhoto.objects.filter(pk=parts[1])
            .filter(Q(image=name) | Q(thumbnail=name))
            .exists()
        )
        storage = photo_storage()
        if not live or not storage.exists(name):
            raise NotFound("This link is unknown or has expired.", code="not_found")
        extension = name.rsplit(".", 1)[-1]
        response = FileResponse(
            storage.open(name, "rb"), content_type=CONTENT_TYPES.get(extension, "image/jpeg")
        )
        response["Cache-Control"] = f"private, max-age={settings.WOUND_PHOTO_URL_MAX_AGE}"
        response["Content-Disposition"] = "inline"
        return response
