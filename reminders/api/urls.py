from django.urls import path

from . import views

urlpatterns = [
    path("devices/", views.DevicesView.as_view(), name="devices"),
    path("staff-devices/", views.StaffDevicesView.as_view(), name="staff-devices"),
    path("notifications/", views.NotificationListView.as_view(), name="notifications"),
    path(
        "notifications/<str:pk>/",
        views.NotificationDetailView.as_view(),
        name="notification-detail",
    ),
    path(
        "notifications/<str:pk>/read/",
        views.NotificationReadView.as_view(),
        name="notification-read",
    ),
]
