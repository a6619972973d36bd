"""One registry per table (docs/architecture.md): every table is a ``RecordKind``, and the
REST collection and the sync table are derived from it. A table registered in one place but
missing from another fails here."""

import dataclasses

import pytest
from django.db import models
from django.urls import resolve

from recovery.api import urls as api_urls
from recovery.api.views import API_KINDS, VIEWSETS
from recovery.record.models import ClinicalRecord
from recovery.record.writes import RECORD_KINDS
from recovery.sync.tables import SYNC_TABLES, RecordWriter, sync_table_for

SYNC_ONLY = {"notifications"}  # the reminders inbox: no clinical record, no REST collection


def registry_problems(kinds: dict, viewsets, routes: dict, sync_tables: dict) -> list[str]:
    """What is registered in one place and not derived in another."""
    problems = []
    by_kind = {}
    for viewset in viewsets:
        table = viewset.kind.table
        if kinds.get(table) is not viewset.kind:
            problems.append(f"{viewset.__name__} serves {table}, which is not a registered kind")
        if table in by_kind:
            problems.append(f"{table} has two viewsets")
        by_kind[table] = viewset
        if routes.get(viewset.api.prefix) is not viewset:
            problems.append(f"{viewset.__name__} is not routed at {viewset.api.prefix}/")
    for table, kind in kinds.items():
        if kind.rest_collection and table not in by_kind:
            problems.append(f"{table} has no REST collection (nor rest_collection=False)")
        if not kind.rest_collection and table in by_kind:
            problems.append(f"{table} opted out of REST but has a viewset")
        synced = sync_tables.get(table)
        if synced is None:
            problems.append(f"{table} has no sync table")
        elif synced.model is not kind.model or synced.since != kind.sync_since:
            problems.append(f"{table}'s sync table is not derived from its kind")
        elif not isinstance(synced.writer, RecordWriter) or synced.writer.table != table:
            problems.append(f"{table} is not pushed through the write path")
    for table in set(sync_tables) - set(kinds) - SYNC_ONLY:
        problems.append(f"sync table {table} has no RecordKind")
    return problems


def _routes() -> dict:
    return {prefix: viewset for prefix, viewset, _ in api_urls.router.registry}


def test_every_table_is_served_by_every_edge():
    assert registry_problems(RECORD_KINDS, VIEWSETS, _routes(), SYNC_TABLES) == []
    assert set(API_KINDS) == {v.api.prefix for v in VIEWSETS}
    assert [t for t in SYNC_TABLES if t not in SYNC_ONLY] == list(RECORD_KINDS)


def test_a_table_missing_from_an_edge_is_found():
    """The check above can fail: a kind without a viewset, one with no sync table, a viewset
    nobody routes."""
    pain = RECORD_KINDS["pain_logs"]
    extra = dataclasses.replace(pain, table="medicine_doses")
    kinds = {**RECORD_KINDS, "medicine_doses": extra}
    problems = registry_problems(kinds, VIEWSETS, _routes(), SYNC_TABLES)
    assert "medicine_doses has no REST collection (nor rest_collection=False)" in problems
    assert "medicine_doses has no sync table" in problems
    routes = {p: v for p, v in _routes().items() if p != "pain-logs"}
    assert "PainLogViewSet is not routed at pain-logs/" in registry_problems(
        RECORD_KINDS, VIEWSETS, routes, SYNC_TABLES
    )
    opted_out = {**RECORD_KINDS, "pain_logs": dataclasses.replace(pain, rest_collection=False)}
    assert "pain_logs opted out of REST but has a viewset" in registry_problems(
        opted_out, VIEWSETS, _routes(), SYNC_TABLES
    )


@pytest.mark.parametrize("viewset", VIEWSETS, ids=lambda v: v.__name__)
def test_a_viewset_serves_its_kind_as_the_write_path_knows_it(viewset):
    kind, api = viewset.kind, viewset.api
    assert viewset.__name__ == f"{api.name}ViewSet"  # searchable by the output's name
    assert resolve(f"/api/v1/{api.prefix}/").func.cls is viewset
    # The API accepts only fields the write path writes.
    accepted = set(viewset.input().fields)
    assert accepted <= set(kind.fields()), accepted - set(kind.fields())
    # Every related row or user an input names is looked up in the patient's scope.
    for name in accepted:
        model_field = kind.model._meta.get_field(name)
        if isinstance(model_field, models.ForeignKey):
            assert name in api.refs, f"{kind.table}.{name}: a clinical row or staff_roles"
            if not issubclass(model_field.related_model, ClinicalRecord):
                assert name in kind.staff_roles


@pytest.mark.parametrize("table", list(RECORD_KINDS))
def test_a_sync_table_is_its_kind_derived(table):
    kind = RECORD_KINDS[table]
    synced = SYNC_TABLES[table]
    derived = sync_table_for(kind)
    assert (synced.name, synced.model, synced.columns, synced.since) == (
        derived.name,
        derived.model,
        derived.columns,
        derived.since,
    )
    for column in synced.columns:
        model_field = kind.model._meta.get_field(column.name)
        if column.writable:
            # A device never names a user (sync resolves ids within the patient's record).
            assert not (
                isinstance(model_field, models.ForeignKey)
                and not issubclass(model_field.related_model, ClinicalRecord)
            ), column.name
            assert column.name in kind.fields()
        if column.name in kind.device_read_only:
            assert not column.writable
