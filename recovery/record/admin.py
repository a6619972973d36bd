"""Admin pages of the clinical record, scoped to the signed-in clinician's patients.

Every page here builds on ``accounts.admin_scoping.ScopedAdmin`` (querysets, pickers and URLs
narrowed to ``patients_for(user)``) and adds what the clinical record needs:

- tombstones stay invisible: querysets come from the ``objects`` manager, which hides them;
- every add, change and delete goes through the services (``recovery.record.writes`` and the named services) with ``actor=request.user``.
  The service is called while the form validates, inside the admin's transaction, so a refusal
  (``ValidationError`` or ``DomainError``) is shown on the form instead of a 500;
- a change form carries the row's ``sync_version`` from when it was opened (hidden
  ``record_version``); the save is refused, on the locked row, when the row has changed since
  (a patient's push meanwhile), so a stale form never silently undoes someone else's change;
- rows the services would refuse to change (a patient's own pain logs) are shown read-only;
- actions call the named domain services (lift a restriction, cancel or complete an
  appointment, mark a milestone achieved);
- each page showing patients' rows writes the PHI access log (``ScopedAdmin``, ``accounts.audit``).
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.utils import timezone

from accounts.admin_scoping import ScopedAdmin
from accounts.models import Role
from accounts.roles import is_staff_member, role_of
from accounts.selectors import patients_for
from config.errors import DomainError
from recovery.record.services import (
    appointment_cancel,
    appointment_complete,
    milestone_achieve,
    restriction_lift,
)

from .models import (
    ActivityRestriction,
    Appointment,
    HospitalStay,
    Milestone,
    PainLog,
    PTSession,
    Surgery,
)
from .writes import (
    STALE_RECORD,
    kind_for_model,
    record_create,
    record_delete,
    record_update,
    unchanged_since,
)

# --- helpers ------------------------------------------------------------------------------------


def local_time(value, patient) -> str:
    """An aware datetime shown in the patient's zone, with the zone's abbreviation."""
    if value is None:
        return "-"
    return timezone.localtime(value, patient.tz).strftime("%Y-%m-%d %H:%M %Z")


def refusal_text(exc: Exception) -> str:
    if isinstance(exc, DomainError):
        return str(exc.detail)
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)
    return str(exc)


def add_service_errors(form, exc: Exception) -> None:
    """Puts a service's refusal on the form: on the field it names, else above the form."""
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
        return
    if isinstance(exc, DomainError):
        attr = exc.attr if exc.attr in form.fields else None
        form.add_error(attr, str(exc.detail))
        return
    form.add_error(None, exc if isinstance(exc, ValidationError) else str(exc))


class PatientFilter(admin.SimpleListFilter):
    """Patients in the caller's scope only (the stock related filter lists every patient)."""

    title = "patient"
    parameter_name = "patient"

    def lookups(self, request, model_admin):
        patients = (
            patients_for(request.user)
            .select_related("user")
            .order_by("user__last_name", "user__first_name", "pk")
        )
        return [
            (str(p.pk), f"{p.user.full_name or p.user.email} ({p.mrn or p.pk})") for p in patients
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if not value.isdigit():
            return queryset.none()
        return queryset.filter(patient_id=int(value))


class ScopedRelatedOnlyFilter(admin.RelatedOnlyFieldListFilter):
    """Staff that appear on rows in the caller's scope (never the whole user table)."""


# --- base ----------------------------------------------------------------------------------------


class RecordForm(forms.ModelForm):
    """A clinical record's admin form. A change form carries the version of the row it was
    opened on, so the write can refuse when the row has changed since."""

    VERSION = "record_version"
    record_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance._state.adding:
            self.fields.pop(self.VERSION, None)
        elif self.VERSION in self.fields:
            self.fields[self.VERSION].initial = self.instance.sync_version

    def clean(self):
        cleaned = super().clean()
        if self.VERSION in self.fields and cleaned.get(self.VERSION) is None:
            raise ValidationError(STALE_RECORD, code="stale")
        return cleaned


class RecordAdmin(ScopedAdmin):
    """Admin of one kind of clinical record, writing only through the services."""

    form = RecordForm

    patient_path = "patient"
    list_select_related = ["patient__user"]
    search_fields = ["patient__user__first_name", "patient__user__last_name", "patient__mrn", "id"]
    autocomplete_fields = ["patient"]
    list_per_page = 50
    server_readonly = ["id", "created_by", "created_at", "updated_at"]
    # Fields of the table that only the named services set, from ``request.user`` and the clock
    # (a restriction's ``lifted_on``/``lifted_by``, set by ``restriction_lift``): never a form
    # input, on the add form or the change form; the change page shows them read-only.
    server_set: tuple[str, ...] = ()

    @property
    def kind(self):
        return kind_for_model(self.model)

    # --- reads

    def get_queryset(self, request):
        # The changelist skips list_select_related once a queryset has any select_related,
        # so this names them all (the patient is needed on every page: permissions, zone).
        return super().get_queryset(request).select_related(*self.list_select_related)

    def get_fields(self, request, obj=None):
        fields = [name for name in self.kind.fields() if name not in self.server_set]
        if obj is None:
            return ["patient", *fields]
        version = [RecordForm.VERSION] if self.has_change_permission(request, obj) else []
        return [
            "id",
            "patient",
            *fields,
            *self.server_set,
            "created_by",
            "created_at",
            "updated_at",
            *version,
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if not self.has_change_permission(request, obj):
            return self.get_fields(request, obj)
        return [*self.server_readonly, *self.server_set, "patient"]

    @admin.display(description="patient", ordering="patient__user__last_name")
    def patient_name(self, obj):
        return obj.patient.user.full_name or obj.patient.user.email

    # --- who may change what (mirrors the services, so refused rows render read-only)

    def has_change_permission(self, request, obj=None):
        if not super().has_change_permission(request, obj):
            return False
        return obj is None or self.kind.clinician_may_change(obj)

    def has_delete_permission(self, request, obj=None):
        if not super().has_delete_permission(request, obj):
            return False
        return obj is None or self.kind.clinician_may_change(obj)

    # --- writes through the services

    def service_values(self, form, change: bool) -> dict:
        names = set(self.kind.fields())
        if change:
            names &= set(form.changed_data)
        return {name: form.cleaned_data[name] for name in names if name in form.cleaned_data}

    def write(self, request, form, change: bool):
        """Creates or updates through the service. Returns the saved record."""
        values = self.service_values(form, change)
        if not change:
            record, _ = record_create(
                self.kind, actor=request.user, patient=form.cleaned_data["patient"], **values
            )
            return record
        if not values:
            return form.instance
        return record_update(
            self.kind,
            actor=request.user,
            record=form.instance,
            require=unchanged_since(form.cleaned_data[RecordForm.VERSION]),
            **values,
        )

    def get_form(self, request, obj=None, change=False, **kwargs):
        base = super().get_form(request, obj, change=change, **kwargs)
        model_admin = self

        class ServiceForm(base):
            def _post_clean(self):
                super()._post_clean()
                if self.errors or request.method != "POST":
                    return
                try:
                    # A savepoint: a refused write leaves nothing behind.
                    with transaction.atomic():
                        self.instance = model_admin.write(request, self, change)
                except (ValidationError, DomainError) as exc:
                    add_service_errors(self, exc)

        return ServiceForm

    def save_model(self, request, obj, form, change):
        """Nothing left to do: the service wrote the row while the form validated."""

    def save_related(self, request, form, formsets, change):
        """Clinical records have no inlines or many-to-many fields."""

    def delete_model(self, request, obj):
        record_delete(self.kind, actor=request.user, record=obj)

    def delete_queryset(self, request, queryset):
        self.delete_through_services(request, queryset)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except (ValidationError, DomainError) as exc:
            self.message_user(request, f"Not deleted: {refusal_text(exc)}", messages.ERROR)
            return HttpResponseRedirect(request.path)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def run_service_on(self, request, queryset, verb: str, call) -> None:
        """Calls ``call(record)`` per selected row, each in its own transaction; reports both
        the rows done and the rows the service refused, with its reason."""
        done, refused = 0, []
        for record in queryset:
            try:
                with transaction.atomic():
                    call(record)
                done += 1
            except (ValidationError, DomainError) as exc:
                refused.append(f"{record}: {refusal_text(exc)}")
        if done:
            self.message_user(request, f"{verb}: {done}.", messages.SUCCESS)
        for line in refused:
            self.message_user(request, f"Not {verb.lower()}: {line}", messages.ERROR)

    @admin.action(description="Delete selected records", permissions=["delete"])
    def delete_through_services(self, request, queryset):
        def delete(record):
            record_delete(self.kind, actor=request.user, record=record)

        self.run_service_on(request, queryset, "Deleted", delete)

    actions = ["delete_through_services"]

    # --- PHI access log (written by ScopedAdmin's pages)

    def phi_resource_name(self) -> str:
        return self.kind.table


# --- one page per kind ------------------------------------------------------------------------


@admin.register(Surgery)
class SurgeryAdmin(RecordAdmin):
    list_display = [
        "performed_on",
        "patient_name",
        "procedure",
        "levels",
        "region",
        "is_revision",
        "reasons",
        "surgeon",
    ]
    list_select_related = ["patient__user", "surgeon"]
    list_filter = [
        PatientFilter,
        "region",
        "procedure",
        "is_revision",
        ("surgeon", ScopedRelatedOnlyFilter),
    ]
    search_fields = [*RecordAdmin.search_fields, "levels", "facility"]
    date_hierarchy = "performed_on"
    ordering = ["-performed_on"]

    @admin.display(description="revision reasons")
    def reasons(self, obj):
        return ", ".join(r.replace("_", " ") for r in obj.revision_reasons) or "-"

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "prior_surgery" and not request.user.is_superuser:
            kwargs["queryset"] = Surgery.objects.filter(
                patient__in=patients_for(request.user).values("pk")
            ).select_related("patient__user")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class InpatientFilter(admin.SimpleListFilter):
    title = "inpatient"
    parameter_name = "inpatient"

    def lookups(self, request, model_admin):
        return [("yes", "Still in hospital"), ("no", "Discharged")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(discharged_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(discharged_at__isnull=False)
        return queryset


@admin.register(HospitalStay)
class HospitalStayAdmin(RecordAdmin):
    list_display = [
        "admitted",
        "patient_name",
        "discharged",
        "length_of_stay",
        "discharge_disposition",
        "facility",
    ]
    list_filter = [PatientFilter, InpatientFilter, "discharge_disposition"]
    search_fields = [*RecordAdmin.search_fields, "facility"]
    ordering = ["-admitted_at"]

    @admin.display(description="admitted", ordering="admitted_at")
    def admitted(self, obj):
        return local_time(obj.admitted_at, obj.patient)

    @admin.display(description="discharged", ordering="discharged_at")
    def discharged(self, obj):
        return local_time(obj.discharged_at, obj.patient)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "surgery" and not request.user.is_superuser:
            kwargs["queryset"] = Surgery.objects.filter(
                patient__in=patients_for(request.user).values("pk")
            ).select_related("patient__user")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class EnteredByFilter(admin.SimpleListFilter):
    title = "entered by"
    parameter_name = "entered_by"

    def lookups(self, request, model_admin):
        return [("patient", "Patient"), ("care_team", "Care team")]

    def queryset(self, request, queryset):
        from django.db.models import F

        if self.value() == "patient":
            return queryset.filter(created_by_id=F("patient__user_id"))
        if self.value() == "care_team":
            return queryset.exclude(created_by_id=F("patient__user_id"))
        return queryset


@admin.register(PainLog)
class PainLogAdmin(RecordAdmin):
    """A patient's own pain logs are theirs: the care team reads them (read-only) and may add
    pain scores taken in clinic, which they can then correct."""

    list_display = [
        "recorded",
        "patient_name",
        "intensity",
        "location",
        "medication_taken",
        "relief_list",
        "entered_by",
    ]
    list_filter = [PatientFilter, "location", "intensity", "medication_taken", EnteredByFilter]
    ordering = ["-recorded_at"]
    date_hierarchy = "recorded_at"

    @admin.display(description="recorded", ordering="recorded_at")
    def recorded(self, obj):
        return local_time(obj.recorded_at, obj.patient)

    @admin.display(description="relief")
    def relief_list(self, obj):
        return ", ".join(obj.relief) or "-"

    @admin.display(description="entered by")
    def entered_by(self, obj):
        return "patient" if obj.created_by_id == obj.patient.user_id else "care team"


@admin.register(PTSession)
class PTSessionAdmin(RecordAdmin):
    list_display = [
        "when",
        "patient_name",
        "status",
        "setting",
        "duration_minutes",
        "pain_before",
        "pain_after",
        "exertion",
    ]
    list_filter = [PatientFilter, "status", "setting"]
    ordering = ["-scheduled_for", "-performed_at"]

    @admin.display(description="when", ordering="scheduled_for")
    def when(self, obj):
        return local_time(obj.performed_at or obj.scheduled_for, obj.patient)


class RestrictionStatusFilter(admin.SimpleListFilter):
    """Status by the server's date (the list page has no single patient zone to count in)."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("upcoming", "Upcoming"), ("active", "Active"), ("ended", "Ended")]

    def queryset(self, request, queryset):
        from django.db.models import Q

        today = timezone.localdate()
        ended = Q(lifted_on__lte=today) | Q(ends_on__lt=today)
        if self.value() == "upcoming":
            return queryset.filter(starts_on__gt=today)
        if self.value() == "active":
            return queryset.filter(starts_on__lte=today).exclude(ended)
        if self.value() == "ended":
            return queryset.filter(starts_on__lte=today).filter(ended)
        return queryset


@admin.register(ActivityRestriction)
class ActivityRestrictionAdmin(RecordAdmin):
    list_display = [
        "activity",
        "patient_name",
        "limit",
        "starts_on",
        "ends_on",
        "lifted_on",
        "status",
    ]
    list_filter = [PatientFilter, RestrictionStatusFilter, "activity"]
    search_fields = [*RecordAdmin.search_fields, "instructions"]
    ordering = ["-starts_on"]
    actions = ["delete_through_services", "lift"]
    server_set = ("lifted_on", "lifted_by")  # the "Lift" action (restriction_lift) sets them

    @admin.display(description="limit")
    def limit(self, obj):
        return (
            f"{obj.limit_value.normalize():f} {obj.limit_unit}"
            if obj.limit_value is not None
            else "-"
        )

    @admin.display(description="status")
    def status(self, obj):
        return obj.status_on(timezone.localdate(timezone=obj.patient.tz))

    @admin.action(description="Lift selected restrictions today", permissions=["change"])
    def lift(self, request, queryset):
        self.run_service_on(
            request,
            queryset,
            "Lifted",
            lambda r: restriction_lift(actor=request.user, restriction=r),
        )


@admin.register(Appointment)
class AppointmentAdmin(RecordAdmin):
    list_display = [
        "starts",
        "patient_name",
        "purpose",
        "imaging",
        "status",
        "clinician",
        "location",
    ]
    list_select_related = ["patient__user", "clinician"]
    list_filter = [
        PatientFilter,
        "status",
        "purpose",
        "imaging",
        ("clinician", ScopedRelatedOnlyFilter),
    ]
    search_fields = [*RecordAdmin.search_fields, "location"]
    ordering = ["-starts_at"]
    date_hierarchy = "starts_at"
    actions = ["delete_through_services", "cancel", "complete"]

    @admin.display(description="starts", ordering="starts_at")
    def starts(self, obj):
        return local_time(obj.starts_at, obj.patient)

    @admin.action(description="Cancel selected appointments", permissions=["change"])
    def cancel(self, request, queryset):
        self.run_service_on(
            request,
            queryset,
            "Cancelled",
            lambda a: appointment_cancel(actor=request.user, appointment=a),
        )

    @admin.action(description="Mark selected appointments completed", permissions=["change"])
    def complete(self, request, queryset):
        self.run_service_on(
            request,
            queryset,
            "Completed",
            lambda a: appointment_complete(actor=request.user, appointment=a),
        )


class AchievedFilter(admin.SimpleListFilter):
    title = "achieved"
    parameter_name = "achieved"

    def lookups(self, request, model_admin):
        return [("yes", "Achieved"), ("no", "Not yet"), ("overdue", "Overdue")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(achieved_on__isnull=False)
        if self.value() == "no":
            return queryset.filter(achieved_on__isnull=True)
        if self.value() == "overdue":
            return queryset.filter(achieved_on__isnull=True, target_on__lt=timezone.localdate())
        return queryset


@admin.register(Milestone)
class MilestoneAdmin(RecordAdmin):
    list_display = ["title", "patient_name", "kind", "target_on", "achieved_on"]
    list_filter = [PatientFilter, AchievedFilter, "kind"]
    search_fields = [*RecordAdmin.search_fields, "title"]
    ordering = ["target_on"]
    actions = ["delete_through_services", "achieve"]

    @admin.action(description="Mark selected milestones achieved today", permissions=["change"])
    def achieve(self, request, queryset):
        self.run_service_on(
            request,
            queryset,
            "Achieved",
            lambda m: milestone_achieve(actor=request.user, milestone=m),
        )


class ClinicDataAdmin(admin.ModelAdmin):
    """Rows that belong to a clinic or are shipped defaults (``clinic`` empty). Staff see their
    clinic's rows and the defaults; defaults are read-only except for superusers; a clinic's own
    rows are edited by its clinic admins (and, for protocols, its surgeons). ``server_set``:
    fields the server sets (a creation time), shown read-only to everyone."""

    editors = (Role.CLINIC_ADMIN,)
    server_set: tuple[str, ...] = ()

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(Q(clinic__isnull=True) | Q(clinic_id=request.user.clinic_id))

    def _editor(self, request) -> bool:
        return request.user.is_superuser or (
            is_staff_member(request.user) and role_of(request.user) in self.editors
        )

    def has_module_permission(self, request):
        return is_staff_member(request.user)

    def has_view_permission(self, request, obj=None):
        return is_staff_member(request.user)

    def has_add_permission(self, request):
        return self._editor(request)

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.clinic_id is None:
            return request.user.is_superuser
        return self._editor(request)

    has_delete_permission = has_change_permission

    def get_readonly_fields(self, request, obj=None):
        return [*self.server_set, *([] if request.user.is_superuser else ["clinic"])]

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser:
            obj.clinic_id = request.user.clinic_id
        super().save_model(request, obj, form, change)
