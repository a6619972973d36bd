"""A model's ``CheckConstraint``s judged in Python, for writes of many rows at once.

``Model.full_clean()`` validates each ``CheckConstraint`` with a query (``SELECT 1 WHERE
<condition>`` with the row's values), one round trip per constraint per row. The batch write
path (``recovery.record.writes.records_create`` and friends) judges the same conditions here,
in Python, with SQL's three-valued logic (a comparison with NULL is unknown, and a CHECK passes
unless its condition is false), and raises the same ``ValidationError`` (the constraint's own
message and code) that ``CheckConstraint.validate`` raises. The database still enforces every
constraint on the insert in the same transaction.

Only the lookups the constraints of this project use are understood (``exact``, ``gt``,
``gte``, ``lt``, ``lte``, ``isnull``, ``in``, ``F()`` on the same row, ``&``, ``|``, ``~``);
a condition with anything else is left to ``CheckConstraint.validate`` (its query), so an
unfamiliar constraint is never skipped.
"""

from __future__ import annotations

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import CheckConstraint, F, Q

UNKNOWN = None  # SQL's NULL truth value


class Unsupported(Exception):
    """A condition this module does not understand: validate it with the database."""


_COMPARE = {
    "exact": lambda a, b: a == b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


def _value(instance, name: str):
    if name == "pk":
        return instance.pk
    try:
        field = instance._meta.get_field(name)
    except FieldDoesNotExist:
        raise Unsupported(name) from None
    if not field.concrete:
        raise Unsupported(name)
    return getattr(instance, field.attname)


def _operand(instance, value):
    if isinstance(value, F):
        if "__" in value.name:
            raise Unsupported(value.name)
        return _value(instance, value.name)
    if hasattr(value, "resolve_expression"):
        raise Unsupported(repr(value))
    return value


def _lookup(instance, key: str, value):
    name, _, lookup = key.partition("__")
    lookup = lookup or "exact"
    if "__" in lookup:
        raise Unsupported(key)  # a join or a transform
    left = _value(instance, name)
    if lookup == "isnull":
        return (left is None) is bool(value)
    right = _operand(instance, value)
    if lookup == "exact" and right is None:
        return left is None  # Q(field=None) is IS NULL
    if lookup == "in":
        if left is None:
            return UNKNOWN
        return left in right
    compare = _COMPARE.get(lookup)
    if compare is None:
        raise Unsupported(key)
    if left is None or right is None:
        return UNKNOWN
    return compare(left, right)


def _evaluate(instance, condition):
    if isinstance(condition, tuple):
        return _lookup(instance, *condition)
    if not isinstance(condition, Q):
        raise Unsupported(repr(condition))
    values = [_evaluate(instance, child) for child in condition.children]
    if condition.connector == Q.AND:
        result = False if False in values else UNKNOWN if UNKNOWN in values else True
    elif condition.connector == Q.OR:
        result = True if True in values else UNKNOWN if UNKNOWN in values else False
    else:
        raise Unsupported(condition.connector)
    if condition.negated:
        result = UNKNOWN if result is UNKNOWN else not result
    return result


def _references(condition) -> set[str]:
    if isinstance(condition, tuple):
        key, value = condition
        names = {key.split("__", 1)[0]}
        if isinstance(value, F):
            names.add(value.name.split("__", 1)[0])
        return names
    names = set()
    for child in getattr(condition, "children", ()):
        names |= _references(child)
    return names


def check_constraints(instance, *, exclude: set[str]) -> None:
    """Raises the ``ValidationError`` of every ``CheckConstraint`` of ``instance``'s model that
    the row breaks, as ``Model.validate_constraints(exclude)`` does (a constraint that names an
    excluded field, one that already failed validation, is not judged)."""
    errors = []
    for constraint in instance._meta.constraints:
        if not isinstance(constraint, CheckConstraint):
            continue  # unique constraints: the database enforces them in this transaction
        condition = constraint.condition
        if {_field_name(instance, n) for n in _references(condition)} & exclude:
            continue
        try:
            passes = _evaluate(instance, condition) is not False
        except Unsupported:
            try:
                constraint.validate(instance.__class__, instance, exclude=exclude)
            except ValidationError as exc:
                errors.append(exc)
            continue
        if not passes:
            errors.append(
                ValidationError(
                    constraint.get_violation_error_message(),
                    code=constraint.violation_error_code,
                )
            )
    if errors:
        raise ValidationError(errors)


def _field_name(instance, name: str) -> str:
    if name == "pk":
        return instance._meta.pk.name
    return name
