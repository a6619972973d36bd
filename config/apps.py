from django.contrib.admin.apps import AdminConfig


class RealignAdminConfig(AdminConfig):
    default_site = "accounts.admin_scoping.RealignAdminSite"
