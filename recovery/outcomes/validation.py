"""What makes an outcome score fit its surgery (the write path's ``prepare`` runs these):

- the instrument fits the surgery's region: the Neck Disability Index is for cervical
  surgery, the Oswestry Disability Index for thoracic, lumbar and sacral (thoracolumbar)
  surgery; pain ratings fit any;
- the score was completed within its timepoint's window (``planning.TIMEPOINT_WINDOWS``),
  counted in the patient's local days from the surgery date.

The surgery is the one the score names, else the patient's current surgery; with neither there
is nothing to check against.
"""

from django.core.exceptions import ValidationError
from django.utils import timezone

from recovery.record.models import Region, Surgery
from recovery.record.selectors import current_surgery

from .models import Instrument, OutcomeScore, Timepoint
from .planning import TIMEPOINT_WINDOWS

INSTRUMENT_REGIONS = {
    Instrument.ODI: (Region.THORACIC, Region.LUMBAR, Region.SACRAL),
    Instrument.NDI: (Region.CERVICAL,),
}
ALTERNATIVE = {Instrument.ODI: Instrument.NDI, Instrument.NDI: Instrument.ODI}


def _weeks(days: int) -> str:
    return f"{days / 7:.0f} weeks" if abs(days) >= 14 else f"{days} days"


def _window_text(timepoint: str) -> str:
    low, high = TIMEPOINT_WINDOWS[timepoint]
    if timepoint == Timepoint.BASELINE:
        return f"within the {-low} days before the surgery"
    return f"{low // 7}-{high // 7} weeks after the surgery"


def timepoint_for_day(day: int) -> str | None:
    """The timepoint whose window holds this post-op day, if any."""
    for timepoint, (low, high) in TIMEPOINT_WINDOWS.items():
        if low <= day <= high:
            return timepoint
    return None


def outcome_score_check(record: OutcomeScore) -> None:
    """Refuses an instrument that does not fit the surgery's region and a score outside its
    timepoint's window (a ``ValidationError`` on ``instrument`` or ``timepoint``)."""
    surgery = (
        Surgery.all_objects.filter(pk=record.surgery_id).first()
        if record.surgery_id
        else current_surgery(patient=record.patient)
    )
    if surgery is None:
        return
    regions = INSTRUMENT_REGIONS.get(record.instrument)
    if regions is not None and surgery.region not in regions:
        label = Instrument(record.instrument).label
        other = ALTERNATIVE[record.instrument]
        raise ValidationError(
            {
                "instrument": ValidationError(
                    f"The {label} is for {' or '.join(regions)} surgery; the surgery it follows "
                    f"({surgery.levels}) is {surgery.region}: use {other} "
                    f"({Instrument(other).label}).",
                    code="instrument_region",
                )
            }
        )
    if record.completed_at is None or record.timepoint not in TIMEPOINT_WINDOWS:
        return
    local_day = timezone.localtime(record.completed_at, record.patient.tz).date()
    day = (local_day - surgery.performed_on).days
    low, high = TIMEPOINT_WINDOWS[record.timepoint]
    if low <= day <= high:
        return
    fits = timepoint_for_day(day)
    when = f"{_weeks(-day)} before" if day < 0 else f"{_weeks(day)} after"
    hint = f" it fits {fits}" if fits else " it fits no timepoint"
    raise ValidationError(
        {
            "timepoint": ValidationError(
                f"A {Timepoint(record.timepoint).label} score is completed "
                f"{_window_text(record.timepoint)} ({surgery.performed_on:%Y-%m-%d}); this one "
                f"was completed {when} the surgery:{hint}.",
                code="timepoint_window",
            )
        }
    )
