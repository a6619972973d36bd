"""python -m bench [BENCHMARK] [options]; python -m bench --list."""

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from . import (
    bulk_export,
    pain_log_list,
    photo_upload,
    steps_pull,
    sync_first_sync,
    sync_pull,
    sync_push,
)

# The timeline and reminders benchmarks run as modules: python -m bench.timeline,
# python -m bench.reminders_dispatch, python -m bench.reminders_due_query (docs/benchmarks.md).
BENCHMARKS = {
    pain_log_list.NAME: pain_log_list,
    sync_pull.NAME: sync_pull,
    sync_first_sync.NAME: sync_first_sync,
    sync_push.NAME: sync_push,
    bulk_export.NAME: bulk_export,
    steps_pull.NAME: steps_pull,
    photo_upload.NAME: photo_upload,
}
RESULTS = Path(__file__).resolve().parent / "results"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--list", action="store_true", help="list the benchmarks")
    sub = parser.add_subparsers(dest="name")
    for name, module in BENCHMARKS.items():
        module.add_arguments(sub.add_parser(name, help=module.__doc__.splitlines()[0]))
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(BENCHMARKS))
        return 0
    names = [args.name] if args.name else list(BENCHMARKS)
    for name in names:
        module = BENCHMARKS[name]
        run_args = args if args.name else parser.parse_args([name])
        result = module.run(run_args)
        RESULTS.mkdir(exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        (RESULTS / f"{name}-{stamp}.json").write_text(json.dumps(result, indent=2))
        print(f"## {name}\n")
        print(module.report(result, run_args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
