"""Outcome scores: ODI and NDI questionnaires and pain NRS pairs, scored on the server.

ODI and NDI: ten sections, each answered 0-5; percent = 100 x sum / (5 x sections answered).
Fewer than ``settings.OUTCOME_MIN_SECTIONS`` answered sections cannot be scored (a 400).
Pain NRS: one answer ``{"nrs": 0..10}``; the score is that value.
"""

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.exceptions import ValidationError

from .models import QUESTIONNAIRES, OutcomeScore

SECTION_IDS = tuple(f"s{n}" for n in range(1, 11))


def _invalid(message: str, code: str = "invalid") -> ValidationError:
    return ValidationError({"answers": ValidationError(message, code=code)})


def score_questionnaire(answers: dict) -> tuple[int, Decimal]:
    """Returns (sections answered, percent). Unanswered sections are absent or null."""
    if not isinstance(answers, dict):
        raise _invalid("An object of section id -> answer 0-5.")
    unknown = sorted(set(answers) - set(SECTION_IDS))
    if unknown:
        raise _invalid(f"Unknown section ids: {', '.join(unknown)}; use s1..s10.")
    given = {k: v for k, v in answers.items() if v is not None}
    for key, value in given.items():
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 5:
            raise _invalid(f"Section {key}: the answer must be a whole number from 0 to 5.")
    minimum = settings.OUTCOME_MIN_SECTIONS
    if len(given) < minimum:
        raise _invalid(
            f"{len(given)} of 10 sections answered; at least {minimum} are needed to score.",
            code="too_few_sections",
        )
    percent = Decimal(100 * sum(given.values())) / Decimal(5 * len(given))
    return len(given), percent.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def score_nrs(answers: dict) -> Decimal:
    value = answers.get("nrs") if isinstance(answers, dict) else None
    if (
        set(answers or {}) != {"nrs"}
        or isinstance(value, bool)
        or not isinstance(value, int)
        or not 0 <= value <= 10
    ):
        raise _invalid('A pain rating is {"nrs": 0..10}.')
    return Decimal(value)


def outcome_score_prepare(record: OutcomeScore) -> None:
    """The write path's ``prepare`` hook: derives ``score`` and ``sections_answered``."""
    if record.instrument in QUESTIONNAIRES:
        record.sections_answered, record.score = score_questionnaire(record.answers)
    else:
        record.sections_answered, record.score = 1, score_nrs(record.answers)


ODI_BANDS = (
    (20, "minimal"),
    (40, "moderate"),
    (60, "severe"),
    (80, "crippled"),
    (100, "bed-bound"),
)
# Vernon & Mior 1991, on the raw 0-50 score: 0-4 none, 5-14 mild, 15-24 moderate,
# 25-34 severe, 35-50 complete. As percentages: x2.
NDI_BANDS = ((8, "none"), (28, "mild"), (48, "moderate"), (68, "severe"), (100, "complete"))


def score_band(instrument: str, score) -> str | None:
    bands = {"odi": ODI_BANDS, "ndi": NDI_BANDS}.get(instrument)
    if bands is None:
        return None
    for upper, name in bands:
        if score <= upper:
            return name
    return bands[-1][1]
