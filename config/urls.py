from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.api.errors import api_not_found

from . import health

api_v1 = [
    # First: the sync pull is the request phones make most, and no other pattern starts "sync/".
    path("sync/", include("recovery.sync.urls")),
    path("", include("accounts.api.urls")),
    path("", include("recovery.api.urls")),
    path("", include("recovery.fhir.urls")),
    path("", include("recovery.care.api.urls")),
    path("", include("recovery.photos.urls")),
    path("", include("reminders.api.urls")),
]

urlpatterns = [
    # The product has no public home page: the care team's site is the admin.
    path("", RedirectView.as_view(pattern_name="admin:index"), name="home"),
    path("admin/", include("accounts.admin_password_reset")),  # "Forgot password?"
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    re_path(r"^api/", api_not_found),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]

admin.site.site_header = "Realign"
admin.site.site_title = "Realign"
admin.site.index_title = "Care team"
