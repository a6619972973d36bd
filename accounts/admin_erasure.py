"""Account deletion requests in the admin: the care team sees their patients' requests, a
clinic admin their clinic's (scoped and PHI-logged as every page naming patients); only a
clinic admin confirms one ("Confirm and delete the account"),
which runs ``accounts.erasure.erasure_confirm``."""

from django.contrib import admin, messages

from config.errors import DomainError

from .admin_scoping import ScopedAdmin
from .erasure import erasure_confirm
from .models import ErasureRequest
from .roles import is_clinic_admin


@admin.register(ErasureRequest)
class ErasureRequestAdmin(ScopedAdmin):
    list_display = ["requested_at", "patient", "status", "confirmed_at", "retain_until"]
    list_select_related = ["patient__user"]
    ordering = ["-requested_at", "-pk"]
    readonly_fields = [f.name for f in ErasureRequest._meta.fields]
    actions = ["confirm"]
    phi_resource = "erasure_requests"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return is_clinic_admin(request.user)  # the action; every field is read-only

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Confirm and delete the account", permissions=["change"])
    def confirm(self, request, queryset):
        for pk in queryset.values_list("pk", flat=True):
            try:
                done = erasure_confirm(actor=request.user, request_id=pk)
            except DomainError as exc:
                self.message_user(request, f"Request {pk}: {exc.detail}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"Request {pk}: the account is deleted; the clinical record is kept until "
                    f"{done.retain_until:%d %B %Y}.",
                    messages.SUCCESS,
                )
