"""docs/sync.md is what the mobile team codes against: it must list every synced column."""

import re
from pathlib import Path

from django.conf import settings

from recovery.sync.tables import SYNC_TABLES

DOC = Path(__file__).resolve().parents[3] / "docs" / "sync.md"


def test_every_table_and_column_is_documented():
    text = DOC.read_text()
    sections = dict(
        re.findall(r"^### `(\w+)`.*?\n(.*?)(?=^### |\Z)", text, flags=re.MULTILINE | re.DOTALL)
    )
    assert set(sections) == set(SYNC_TABLES)
    for name, table in SYNC_TABLES.items():
        documented = re.findall(r"^\| `(\w+)` \|.*\| (\d+) \|$", sections[name], flags=re.MULTILINE)
        assert documented == [(c.name, str(c.since)) for c in table.columns], name


def test_documented_limits_and_versions_match_settings():
    text = DOC.read_text()
    assert f"now {settings.SYNC_SCHEMA_VERSION_MIN}..{settings.SYNC_SCHEMA_VERSION_MAX}" in text
    assert f"| `SYNC_PUSH_MAX_BYTES` | {settings.SYNC_PUSH_MAX_BYTES:,} |" in text
    assert f"| `SYNC_PUSH_MAX_RECORDS` | {settings.SYNC_PUSH_MAX_RECORDS:,} |" in text


def test_every_model_field_is_synced():
    """A field added to a synced model reaches the app (or this test says why not)."""
    internal = {"id", "patient", "deleted_at", "sync_version"}  # the protocol carries these itself
    server_side = {
        "notifications": {"reminder"}
    }  # which reminder row made it: not the app's concern
    for name, table in SYNC_TABLES.items():
        fields = (
            {f.name for f in table.model._meta.concrete_fields}
            - internal
            - server_side.get(name, set())
        )
        assert fields == {c.name for c in table.columns}, name
