"""The clinic admin's read-only list of FHIR Bulk Data exports (docs/admin.md): who asked for
what and when, its status, progress and files. Clinic admins see their clinic's exports (a
superuser every clinic's); nobody adds, changes or deletes one here (exports start and are
cancelled through the API). The page shows no clinical data and no patient's name (a
patient-level export names its patient by id), only the job."""

from django.contrib import admin
from django.http import Http404

from accounts.roles import is_clinic_admin
from recovery.fhir.models import BulkExportJob
from recovery.fhir.selectors import bulk_exports_listed_for


@admin.register(BulkExportJob)
class BulkExportJobAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "requested_by",
        "level",
        "patient_id",
        "types_label",
        "since",
        "status",
        "progress",
        "files",
        "expires_at",
    ]
    list_filter = ["status", "level"]
    list_select_related = ["requested_by", "clinic"]
    ordering = ["-created_at"]
    date_hierarchy = "created_at"
    # The patient of a patient-level export by id, never by name: this page is no record read.
    readonly_fields = [f.attname for f in BulkExportJob._meta.fields]

    @admin.display(description="_type")
    def types_label(self, obj):
        return ", ".join(obj.types) or "all"

    @admin.display(description="progress")
    def progress(self, obj):
        return f"{obj.patients_done} of {obj.patients_total} patients"

    @admin.display(description="files")
    def files(self, obj):
        return ", ".join(f"{e['type']} ({e['count']})" for e in obj.output)

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # Another clinic's export is indistinguishable from none: 404, no redirect.
        raise Http404("No such export.")

    def get_queryset(self, request):
        return bulk_exports_listed_for(request.user)

    def has_module_permission(self, request):
        return is_clinic_admin(request.user)

    def has_view_permission(self, request, obj=None):
        return is_clinic_admin(request.user)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
