"""The published schema passes Redocly's lint with its recommended rules (config:
``tools/openapi/redocly.yaml``, which turns off two rules and says why): zero errors, zero
warnings. ``make node-deps`` installs ``@redocly/cli`` from ``tools/openapi/package-lock.json``;
the test exports the schema with ``manage.py spectacular`` exactly as ``/api/schema/`` serves it."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "tools" / "openapi"
REDOCLY = TOOLS / "node_modules" / ".bin" / "redocly"

pytestmark = [pytest.mark.node]


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    schema = tmp_path_factory.mktemp("openapi") / "schema.yaml"
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "spectacular",
            "--validate",
            "--fail-on-warn",
            "--file",
            str(schema),
        ],
        cwd=ROOT,
        check=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
        timeout=120,
    )
    return schema


def test_redocly_lint_is_clean(exported):
    if not REDOCLY.exists():
        if shutil.which("npm") is None:
            pytest.skip("needs Node.js and npm (make node-deps)")
        pytest.fail("tools/openapi/node_modules is missing: run `make node-deps`")
    result = subprocess.run(
        [
            str(REDOCLY),
            "lint",
            str(exported),
            "--config",
            str(TOOLS / "redocly.yaml"),
            "--format",
            "json",
            "--max-problems",
            "1000",
        ],
        cwd=TOOLS,
        check=False,  # the report says what is wrong; its exit code is checked below
        capture_output=True,
        text=True,
        env={**os.environ, "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"},
        timeout=180,
    )
    report = json.loads(result.stdout)
    problems = [
        f"{p['severity']} {p['ruleId']}: {p['message']} at {p['location'][0]['pointer']}"
        for p in report["problems"]
    ]
    assert report["totals"]["errors"] == 0 and report["totals"]["warnings"] == 0, problems
    assert result.returncode == 0, result.stderr


def test_the_config_turns_off_only_rules_it_gives_a_reason_for():
    lines = (TOOLS / "redocly.yaml").read_text().splitlines()
    for index, line in enumerate(lines):
        if line.strip().endswith(": off"):
            assert lines[index - 1].strip().startswith("#"), f"no reason for {line.strip()}"
