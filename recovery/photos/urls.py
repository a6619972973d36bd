"""The wound photo endpoints (``api.py``)."""

from django.urls import path

from .api import WoundPhotoDetailView, WoundPhotoFileView, WoundPhotoListView, WoundPhotoReviewView

urlpatterns = [
    path("wound-photos/", WoundPhotoListView.as_view(), name="wound-photos"),
    path("wound-photo-files/<str:token>/", WoundPhotoFileView.as_view(), name="wound-photo-file"),
    path("wound-photos/<str:photo_id>/", WoundPhotoDetailView.as_view(), name="wound-photo"),
    path(
        "wound-photos/<str:photo_id>/review/",
        WoundPhotoReviewView.as_view(),
        name="wound-photo-review",
    ),
]
