"""The care team's page of wound photos: scoped like every clinical page, the photo shown
through a signed URL, and the one thing the care team does here: review it ("looks fine" /
"come in", with a comment). The reviewer and the time are set by ``wound_photo_review``,
never form inputs; photos are added only by the patient's upload."""

from django.contrib import admin
from django.utils.html import format_html

from recovery.record.admin import PatientFilter, RecordAdmin, RecordForm
from recovery.record.writes import unchanged_since

from .models import WoundPhoto
from .services import wound_photo_review
from .storage import signed_url

REVIEW_FIELDS = ("review_outcome", "review_comment")
SHOWN = (
    "taken_at",
    "note",
    "photo",
    "content_type",
    "width",
    "height",
    "byte_size",
)


@admin.register(WoundPhoto)
class WoundPhotoAdmin(RecordAdmin):
    list_display = [
        "taken_at",
        "patient_name",
        "thumbnail_preview",
        "review_outcome",
        "reviewed_at",
    ]
    list_filter = [PatientFilter, "review_outcome"]
    search_fields = [*RecordAdmin.search_fields, "note", "review_comment"]
    ordering = ["-taken_at"]
    server_set = ("reviewed_by", "reviewed_at")  # wound_photo_review sets them

    def has_add_permission(self, request):
        return False  # uploaded by the patient (POST /api/v1/wound-photos/)

    def get_fields(self, request, obj=None):
        version = [RecordForm.VERSION] if self.has_change_permission(request, obj) else []
        return [
            "id",
            "patient",
            *SHOWN,
            *REVIEW_FIELDS,
            *self.server_set,
            "created_by",
            "created_at",
            "updated_at",
            *version,
        ]

    def get_readonly_fields(self, request, obj=None):
        fields = self.get_fields(request, obj)
        if not self.has_change_permission(request, obj):
            return fields
        return [f for f in fields if f not in (*REVIEW_FIELDS, RecordForm.VERSION)]

    @admin.display(description="photo")
    def photo(self, obj):
        url = signed_url(obj.image.name)
        if url is None:
            return "-"
        return format_html(
            '<a href="{}" target="_blank" rel="noopener"><img src="{}" alt="wound photo" '
            'style="max-width: 480px; max-height: 480px"></a>',
            url,
            signed_url(obj.thumbnail.name) or url,
        )

    @admin.display(description="photo")
    def thumbnail_preview(self, obj):
        url = signed_url(obj.thumbnail.name)
        if url is None:
            return "(thumbnail pending)"
        return format_html('<img src="{}" alt="wound photo" style="max-height: 64px">', url)

    def write(self, request, form, change: bool):
        if not change:  # has_add_permission is False: never reached through the admin
            raise AssertionError("wound photos are uploaded by the patient")
        if not set(REVIEW_FIELDS) & set(form.changed_data):
            return form.instance
        return wound_photo_review(
            actor=request.user,
            photo=form.instance,
            outcome=form.cleaned_data.get("review_outcome") or "",
            comment=form.cleaned_data.get("review_comment") or "",
            require=unchanged_since(form.cleaned_data[RecordForm.VERSION]),
        )
