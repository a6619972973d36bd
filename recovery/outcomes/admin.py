"""Admin pages of outcome scores (scoped like every clinical page) and of the MCIDs they are
compared against (clinic data: the shipped defaults read-only, a clinic's own copies editable)."""

from django.contrib import admin

from recovery.record.admin import ClinicDataAdmin, PatientFilter, RecordAdmin

from .models import MinimalImportantDifference, OutcomeScore
from .scoring import score_band


@admin.register(OutcomeScore)
class OutcomeScoreAdmin(RecordAdmin):
    list_display = [
        "completed_at",
        "patient_name",
        "instrument",
        "timepoint",
        "score",
        "band",
        "sections_answered",
    ]
    list_filter = [PatientFilter, "instrument", "timepoint"]
    ordering = ["-completed_at"]
    server_readonly = [*RecordAdmin.server_readonly, "score", "sections_answered"]

    @admin.display(description="band")
    def band(self, obj):
        return score_band(obj.instrument, obj.score) or "-"


@admin.register(MinimalImportantDifference)
class MinimalImportantDifferenceAdmin(ClinicDataAdmin):
    list_display = ["instrument", "population", "value", "unit", "clinic", "source"]
    list_filter = ["instrument", "population"]
