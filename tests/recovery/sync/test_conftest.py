"""The Node tests skip without tests/sync_client/node_modules, and fail instead when
REALIGN_REQUIRE_SERVICES=1 (CI)."""

import pytest

from . import conftest


class NodeItem:
    def get_closest_marker(self, name):
        return name == "node" or None


@pytest.fixture
def no_node_modules(monkeypatch, tmp_path):
    monkeypatch.setattr(conftest, "CLIENT_DIR", tmp_path)


def test_skips_without_node_modules(no_node_modules, monkeypatch):
    monkeypatch.delenv("REALIGN_REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="make node-deps"):
        conftest.pytest_runtest_setup(NodeItem())


def test_fails_without_node_modules_when_services_are_required(no_node_modules, monkeypatch):
    monkeypatch.setenv("REALIGN_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match="REALIGN_REQUIRE_SERVICES=1"):
        conftest.pytest_runtest_setup(NodeItem())


def test_runs_when_node_modules_are_there(monkeypatch, tmp_path):
    (tmp_path / "node_modules" / "@nozbe" / "watermelondb").mkdir(parents=True)
    monkeypatch.setattr(conftest, "CLIENT_DIR", tmp_path)
    monkeypatch.setenv("REALIGN_REQUIRE_SERVICES", "1")
    conftest.pytest_runtest_setup(NodeItem())  # neither skips nor fails
