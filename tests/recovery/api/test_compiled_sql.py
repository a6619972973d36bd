"""The compiled SQL of list pages (``recovery.api.compiled_sql``), against its oracle: a patient's pages
run SQL compiled once per shape with new values each time; every page equals what the plain ORM
query answers (every kind, every filter, the keyset cursor, across patients)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from accounts.authentication import JWTAuthentication
from config.api.pagination import KeysetCursor
from recovery.api import compiled_sql
from recovery.api.kinds import SORT, Wire
from recovery.api.lists import record_page
from recovery.api.views import API_KINDS
from recovery.record.selectors import records_for
from tests.factories import PatientFactory, make_record

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_compiled_shapes(monkeypatch):
    monkeypatch.setattr(compiled_sql, "_compiled", {})


def api_user(user):
    """The user as the API's authentication loads it (with ``own_patient_pk``)."""
    return JWTAuthentication().user_model.objects.get(pk=user.pk)


def orm_page(user, kind, *, since=None, until=None, updated_since=None, cursor=None, page_size=50):
    """The page as the plain ORM reads it: no compiled SQL, no psycopg loaders."""
    sort = kind.sort_field()
    qs = records_for(user, kind.record)
    if sort == SORT:
        qs = qs.annotate(**{SORT: kind.sort})
    if since is not None:
        qs = qs.filter(**{f"{sort}__gte": since})
    if until is not None:
        qs = qs.filter(**{f"{sort}__lt": until})
    if updated_since is not None:
        qs = qs.filter(updated_at__gte=updated_since)
    if cursor is not None:
        qs = qs.filter(
            Q(**{f"{sort}__lt": cursor.value}) | Q(**{sort: cursor.value, "id__lt": cursor.row_id})
        )
    values = Wire(kind, with_sort=True).values
    return Wire(kind, with_sort=True).rows(
        list(qs.order_by(f"-{sort}", "-id").values_list(*values)[:page_size])
    )


@pytest.fixture
def pain_logs(patient, surgeon):
    now = timezone.now().replace(microsecond=0)
    return [
        make_record(
            "pain-logs",
            patient,
            patient.user,
            recorded_at=now - timedelta(hours=i),
            intensity=i % 11,
        )
        for i in range(12)
    ]


@pytest.mark.parametrize("prefix", list(API_KINDS))
def test_each_kind_page_equals_the_orm(prefix, patient, surgeon):
    kind = API_KINDS[prefix]
    author = patient.user if kind.patients_write else surgeon
    for _ in range(3):
        make_record(prefix, patient, author)
    user = api_user(patient.user)
    for _ in range(2):  # compiled, then reused
        page = record_page(user=user, kind=kind, page_size=2)
        assert page.rows == orm_page(user, kind, page_size=2)
        assert page.next_cursor is not None
        cursor = KeysetCursor.decode(page.next_cursor, sort_type=kind.sort_type)
        rest = record_page(user=user, kind=kind, cursor=cursor, page_size=50)
        assert rest.rows == orm_page(user, kind, cursor=cursor)
        assert {row["id"] for row in page.rows + rest.rows} == set(
            kind.model.objects.filter(patient=patient).values_list("id", flat=True)
        )


def test_filters_page_equals_the_orm_with_new_values_each_time(pain_logs, patient):
    kind = API_KINDS["pain-logs"]
    user = api_user(patient.user)
    times = sorted(log.recorded_at for log in pain_logs)
    for since, until in [(times[1], times[8]), (times[4], times[11]), (times[0], times[2])]:
        filters = {"since": since, "until": until, "updated_since": times[0] - timedelta(days=1)}
        page = record_page(user=user, kind=kind, page_size=3, **filters)
        assert page.rows == orm_page(user, kind, page_size=3, **filters)
        assert [row["recorded_at"] for row in page.rows] == sorted(
            (t for t in times if since <= t < until), reverse=True
        )[:3]


def test_a_shape_compiled_for_one_patient_reads_only_the_next_patients_rows(
    pain_logs, patient, clinic
):
    kind = API_KINDS["pain-logs"]
    other = PatientFactory(clinic=clinic)
    theirs = make_record("pain-logs", other, other.user)
    first = record_page(user=api_user(patient.user), kind=kind)
    second = record_page(user=api_user(other.user), kind=kind)
    assert {row["id"] for row in first.rows} == {log.pk for log in pain_logs}
    assert [row["id"] for row in second.rows] == [theirs.pk]
    assert second.patient_ids == {other.pk}


@pytest.mark.postgres
def test_patient_shapes_are_compiled_once_and_staff_pages_never(
    pain_logs, patient, surgeon, django_assert_num_queries
):
    kind = API_KINDS["pain-logs"]
    user = api_user(patient.user)
    record_page(user=user, kind=kind, page_size=5)
    assert list(compiled_sql._compiled) == [("pain-logs", (), 5)]
    with django_assert_num_queries(1):
        record_page(user=user, kind=kind, page_size=5)
    record_page(user=api_user(surgeon), kind=kind, patient_id=patient.pk, page_size=5)
    assert list(compiled_sql._compiled) == [("pain-logs", (), 5)]


@pytest.mark.postgres
def test_sql_whose_parameters_are_not_the_values_given_is_not_kept(pain_logs, patient):
    kind = API_KINDS["pain-logs"]
    user = api_user(patient.user)
    values = Wire(kind, with_sort=True).values
    qs = records_for(user, kind.record).order_by("-recorded_at", "-id").values_list(*values)
    rows = compiled_sql.fetch_shape(("odd",), lambda: qs, values=[patient.pk + 1000])
    assert rows == list(qs)  # answered with the queryset's own parameters
    assert ("odd",) not in compiled_sql._compiled


@pytest.mark.postgres
def test_compiled_shapes_are_bounded(pain_logs, patient, monkeypatch):
    monkeypatch.setattr(compiled_sql, "COMPILED_SHAPES_MAX", 2)
    kind = API_KINDS["pain-logs"]
    user = api_user(patient.user)
    for size in (1, 2, 3, 4):
        page = record_page(user=user, kind=kind, page_size=size)
        assert len(page.rows) == size
    assert len(compiled_sql._compiled) == 2


def test_fast_rows_are_the_values_the_orm_reads(pain_logs, patient):
    """psycopg's loaders (PostgreSQL) give the same Python values as Django's converters."""
    kind = API_KINDS["pain-logs"]
    values = Wire(kind, with_sort=True).values
    qs = (
        records_for(api_user(patient.user), kind.record)
        .order_by("-recorded_at", "-id")
        .values_list(*values)
    )
    fast = compiled_sql.fetch_tuples(qs)
    assert fast == list(qs)
    if connection.vendor == "postgresql":  # psycopg's loaders answer in UTC
        assert all(row[3].utcoffset() == timedelta(0) for row in fast)
