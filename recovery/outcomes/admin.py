"""Admin pages of outcome scores (scoped like every clinical page) and of the MCIDs they are
compared against (clinic data: the shipped defaults read-only, a clinic's own copies editable)."""

from django.contrib import admin

from recovery.record.admin import ClinicDataAdmin, PatientFilter, RecordAdmin

from .models import MinimalImportantDifference, OutcomeScore
from .scoring import score_band
from .selectors import outcome_score_changes


@admin.register(OutcomeScore)
class OutcomeScoreAdmin(RecordAdmin):
    list_display = [
        "completed_at",
        "patient_name",
        "instrument",
        "timepoint",
        "score",
        "band",
        "vs_baseline",
        "mcid",
        "sections_answered",
    ]
    list_filter = [PatientFilter, "instrument", "timepoint"]
    ordering = ["-completed_at"]
    server_readonly = [
        *RecordAdmin.server_readonly,
        "score",
        "sections_answered",
        "vs_baseline",
        "mcid",
    ]

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        return fields if obj is None else [*fields, "vs_baseline", "mcid"]

    @admin.display(description="band")
    def band(self, obj):
        return score_band(obj.instrument, obj.score) or "-"

    def get_changelist_instance(self, request):
        cl = super().get_changelist_instance(request)
        # Change from baseline for the whole page in a fixed number of queries, not per row.
        changes = outcome_score_changes(cl.result_list)
        for score in cl.result_list:
            score.outcome_change = changes.get(score.pk)
        return cl

    def _change(self, obj):
        if obj is None or obj.pk is None:
            return None
        if not hasattr(obj, "outcome_change"):  # the change page: this one score
            obj.outcome_change = outcome_score_changes([obj]).get(obj.pk)
        return obj.outcome_change

    @admin.display(description="vs baseline")
    def vs_baseline(self, obj):
        change = self._change(obj)
        if change is None:
            return "-"
        return f"{change.change:+.1f} (baseline {change.baseline:.1f})"

    @admin.display(description="MCID")
    def mcid(self, obj):
        change = self._change(obj)
        if change is None or change.mcid is None:
            return "-"
        verdict = "reached" if change.meets_mcid else "not reached"
        return f"{verdict} ({change.mcid:.2f})"


@admin.register(MinimalImportantDifference)
class MinimalImportantDifferenceAdmin(ClinicDataAdmin):
    list_display = ["instrument", "population", "value", "unit", "clinic", "source"]
    list_filter = ["instrument", "population"]
