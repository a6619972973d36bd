"""The care team's page of refused pushed records (docs/admin.md, "Refused records"): scoped like
every patient page (another clinic's row is a 404), read-only, with two actions through the
services: replay a record once its cause is fixed, or dismiss it."""

import json

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html

from accounts.admin_scoping import ScopedAdmin
from config.errors import DomainError
from recovery.record.admin import PatientFilter, refusal_text
from recovery.sync.models import RejectedRecord, RejectedStatus


@admin.register(RejectedRecord)
class RejectedRecordAdmin(ScopedAdmin):
    phi_resource = "rejected_records"
    list_display = [
        "rejected_at",
        "patient_label",
        "table_name",
        "record_id",
        "reasons",
        "times_sent",
        "status",
    ]
    list_filter = ["status", "table_name", PatientFilter]
    list_select_related = ["patient__user", "user"]
    search_fields = ["record_id", "patient__user__last_name", "patient__mrn"]
    ordering = ["status", "-rejected_at"]
    readonly_fields = [
        "patient",
        "user",
        "device",
        "table_name",
        "record_id",
        "section",
        "raw_json",
        "errors_json",
        "last_pulled_at",
        "rejected_at",
        "times_sent",
        "status",
        "handled_at",
        "handled_by",
        "note",
    ]
    exclude = ["raw", "errors", "sync_version"]
    actions = ["replay", "dismiss"]

    @admin.display(description="patient", ordering="patient__user__last_name")
    def patient_label(self, obj):
        return obj.patient.user.full_name or obj.patient.user.email

    @admin.display(description="why")
    def reasons(self, obj):
        return "; ".join(f"{e.get('attr')}: {e.get('detail')}" for e in obj.errors or [])[:300]

    @admin.display(description="as sent")
    def raw_json(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.raw, indent=2, ensure_ascii=False))

    @admin.display(description="refusal")
    def errors_json(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.errors, indent=2, ensure_ascii=False))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _each(self, request, queryset, verb, call):
        done = 0
        for rejected in queryset.filter(status=RejectedStatus.OPEN):
            try:
                call(rejected)
                done += 1
            except (ValidationError, DomainError) as exc:
                self.message_user(
                    request, f"Not {verb.lower()}: {rejected}: {refusal_text(exc)}", messages.ERROR
                )
        if done:
            self.message_user(request, f"{verb}: {done}.", messages.SUCCESS)

    @admin.action(description="Replay: apply the record as sent (its cause is fixed)")
    def replay(self, request, queryset):
        # Imported here: the sync tables are built from the RecordKind registry, complete only
        # after RecoveryConfig.ready(), and the admin's pages are imported before it.
        from recovery.sync.services import rejected_record_replay

        self._each(
            request,
            queryset,
            "Replayed",
            lambda r: rejected_record_replay(actor=request.user, rejected=r),
        )

    @admin.action(description="Dismiss: do not apply the record")
    def dismiss(self, request, queryset):
        from recovery.sync.services import rejected_record_dismiss

        self._each(
            request,
            queryset,
            "Dismissed",
            lambda r: rejected_record_dismiss(actor=request.user, rejected=r),
        )
