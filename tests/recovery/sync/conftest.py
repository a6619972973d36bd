"""The Node client tests need ``tests/sync_client/node_modules`` (``make node-deps``).
Without it they skip, unless REALIGN_REQUIRE_SERVICES=1, where they fail."""

import os
from pathlib import Path

import pytest

CLIENT_DIR = Path(__file__).resolve().parents[2] / "sync_client"


def pytest_runtest_setup(item):
    if not item.get_closest_marker("node"):
        return
    if not (CLIENT_DIR / "node_modules" / "@nozbe" / "watermelondb").is_dir():
        reason = "needs tests/sync_client/node_modules: run `make node-deps` (npm ci)"
        if os.environ.get("REALIGN_REQUIRE_SERVICES") == "1":
            pytest.fail(f"REALIGN_REQUIRE_SERVICES=1 but this test {reason}")
        pytest.skip(reason)
