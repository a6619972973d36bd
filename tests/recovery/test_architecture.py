"""The layout's promises (docs/architecture.md): the import contracts hold, and every
capability's tables and write hooks are registered with the one write path."""

import shutil
import subprocess
import sys
from pathlib import Path

from recovery.care import kinds as care_kinds
from recovery.outcomes import planning as outcome_planning
from recovery.record import planning as record_planning
from recovery.record.writes import RECORD_KINDS, kind_for_table, write_hooks

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_are_kept():
    """No import cycles, apps and capabilities import only downwards (pyproject.toml)."""
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint_imports, "import-linter is a dev dependency"
    result = subprocess.run(
        [lint_imports, "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_every_capability_registers_its_tables():
    assert set(RECORD_KINDS) == {
        "surgeries",
        "hospital_stays",
        "medications",
        "pain_logs",
        "pt_sessions",
        "restrictions",
        "appointments",
        "milestones",
        "outcome_scores",
        "prep_items",
        "imaging_studies",
        "complications",
        "check_ins",
        "daily_steps",
        "wound_photos",
    }


def test_hooks_of_higher_capabilities_run_on_the_records_writes():
    surgery_hooks = write_hooks(kind_for_table("surgeries"))
    assert outcome_planning.surgery_outcomes_planned in surgery_hooks
    assert care_kinds._surgery_moved in surgery_hooks
    pain_hooks = write_hooks(kind_for_table("pain_logs"))
    assert pain_hooks[0] is record_planning.pain_logged
    assert care_kinds._pain_log_triaged in pain_hooks
    assert len(set(pain_hooks)) == len(pain_hooks)  # registered once, however often imported
    assert care_kinds._steps_triaged in write_hooks(kind_for_table("daily_steps"))
