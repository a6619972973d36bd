from django.urls import path

from . import views

urlpatterns = [
    path("auth/token/", views.TokenObtainView.as_view(), name="auth-token"),
    path("auth/token/refresh/", views.TokenRefreshView.as_view(), name="auth-token-refresh"),
    path("auth/logout/", views.LogoutView.as_view(), name="auth-logout"),
    path("auth/activate/", views.ActivateView.as_view(), name="auth-activate"),
    path(
        "auth/password/reset/", views.PasswordResetRequestView.as_view(), name="auth-password-reset"
    ),
    path(
        "auth/password/reset/confirm/",
        views.PasswordResetConfirmView.as_view(),
        name="auth-password-reset-confirm",
    ),
    path("auth/password/change/", views.PasswordChangeView.as_view(), name="auth-password-change"),
    path("me/", views.MeView.as_view(), name="me"),
    path("me/access-log/", views.AccessLogView.as_view(), name="me-access-log"),
    path("me/erasure-request/", views.ErasureRequestView.as_view(), name="me-erasure-request"),
    path("me/caregivers/", views.CaregiverListView.as_view(), name="me-caregivers"),
    path(
        "me/caregivers/<int:grant_id>/",
        views.CaregiverDetailView.as_view(),
        name="me-caregiver-detail",
    ),
    path("me/caregiving/", views.CaregivingView.as_view(), name="me-caregiving"),
    path("invitations/", views.InvitationListView.as_view(), name="invitations"),
    path(
        "invitations/<int:invitation_id>/",
        views.InvitationDetailView.as_view(),
        name="invitation-detail",
    ),
    path(
        "invitations/<int:invitation_id>/resend/",
        views.InvitationResendView.as_view(),
        name="invitation-resend",
    ),
    path(
        "invitations/<int:invitation_id>/revoke/",
        views.InvitationRevokeView.as_view(),
        name="invitation-revoke",
    ),
]
