"""A database constraint broken through the API answers a sentence a patient understands under
``non_field_errors`` (docs/api.md), never the constraint's internal name or Django's
``__all__`` ("Constraint “restriction_end_after_start” is violated.")."""

from datetime import timedelta

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError

from tests.factories import make_record

pytestmark = pytest.mark.django_db

CONSTRAINTS = [
    (model, constraint)
    for model in apps.get_models()
    if model._meta.app_label in ("accounts", "recovery", "reminders")
    for constraint in model._meta.constraints
]


def test_the_project_has_constraints():
    assert len(CONSTRAINTS) >= 40


@pytest.mark.parametrize(("model", "constraint"), CONSTRAINTS, ids=[c.name for _, c in CONSTRAINTS])
def test_every_constraint_has_a_sentence_and_a_code(model, constraint):
    message = str(constraint.get_violation_error_message())
    assert message != str(constraint.default_violation_error_message % {"name": constraint.name})
    assert constraint.name not in message and "_" not in message
    assert message[0].isupper() and message.endswith(".")
    assert constraint.violation_error_code


def _broken(constraint_name: str):
    model, constraint = next((m, c) for m, c in CONSTRAINTS if c.name == constraint_name)
    return model, constraint


def test_full_clean_says_the_sentence_of_the_broken_constraint(patient, surgeon):
    restriction = make_record("restrictions", patient, surgeon)
    restriction.ends_on = restriction.starts_on - timedelta(days=1)
    with pytest.raises(ValidationError) as caught:
        restriction.full_clean()
    _, constraint = _broken("restriction_end_after_start")
    assert caught.value.message_dict == {"__all__": [constraint.violation_error_message]}
    assert caught.value.error_dict["__all__"][0].code == "date_order"


# (collection, body of a create or change that breaks the constraint, constraint)
THROUGH_THE_API = [
    (
        "restrictions",
        {"starts_on": "2026-05-10", "ends_on": "2026-05-01"},
        "restriction_end_after_start",
    ),
    (
        "appointments",
        {"starts_at": "2026-05-10T10:00:00+00:00", "ends_at": "2026-05-10T09:00:00+00:00"},
        "appointment_end_after_start",
    ),
    (
        "hospital-stays",
        {
            "admitted_at": "2026-05-10T10:00:00+00:00",
            "discharged_at": "2026-05-09T10:00:00+00:00",
        },
        "stay_discharge_after_admission",
    ),
    (
        "complications",
        {"noticed_on": "2026-05-10", "resolved_on": "2026-05-01"},
        "complication_resolved_after_noticed",
    ),
]
# Rules the model's clean() checks before its constraint, naming the field they concern.
BY_THE_FIELD = [
    ("restrictions", {"limit_value": "10.00", "limit_unit": ""}, "limit_unit"),
    ("pt-sessions", {"scheduled_for": None, "performed_at": None}, "scheduled_for"),
    ("prep-items", {"status": "waived", "waived_reason": ""}, "waived_reason"),
]


@pytest.mark.parametrize(
    ("prefix", "change", "name"), THROUGH_THE_API, ids=[name for *_, name in THROUGH_THE_API]
)
def test_a_broken_constraint_through_the_api_is_a_sentence_under_non_field_errors(
    api, patient, surgeon, prefix, change, name
):
    row = make_record(prefix, patient, surgeon)
    response = api(surgeon).patch(f"/api/v1/{prefix}/{row.pk}/", change, format="json")
    assert response.status_code == 400, response.content
    _, constraint = _broken(name)
    body = response.json()
    assert body["type"] == "validation_error"
    assert body["errors"] == [
        {
            "code": constraint.violation_error_code,
            "detail": constraint.violation_error_message,
            "attr": "non_field_errors",
        }
    ], body
    assert name not in response.content.decode() and "__all__" not in response.content.decode()


@pytest.mark.parametrize(("prefix", "change", "field"), BY_THE_FIELD)
def test_rules_checked_before_their_constraint_name_the_field(
    api, patient, surgeon, prefix, change, field
):
    row = make_record(prefix, patient, surgeon)
    response = api(surgeon).patch(f"/api/v1/{prefix}/{row.pk}/", change, format="json")
    assert response.status_code == 400, response.content
    [error] = response.json()["errors"]
    assert error["attr"] == field and error["code"] == "required"
