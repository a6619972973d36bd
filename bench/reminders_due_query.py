"""Cost of the dispatcher's due-reminder query with one million pending future reminders.

    python -m bench.reminders_due_query [--rows 1000000] [--due 1000]

Fills the benchmark database (``BENCH_DATABASE_URL``) with ``rows`` pending reminders due in the
future plus ``due`` already due, ANALYZEs, prints the query exactly as the dispatcher sends it
with ``EXPLAIN (ANALYZE, BUFFERS)``, and times it (median of 50, each in a rolled-back
transaction so the locks are real and nothing is claimed).
"""

import argparse
import statistics
import time

from bench._reminders_setup import bench_patient, setup_django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    setup_django()

    from django.conf import settings
    from django.db import connection, transaction
    from django.utils import timezone

    from reminders.delivery import due_reminders_query

    patient = bench_patient()
    limit = args.limit or settings.REMINDERS_DISPATCH_BATCH
    with connection.cursor() as cur:
        cur.execute("DELETE FROM reminders_reminder WHERE cause_type = 'benchq'")
        started = time.perf_counter()
        cur.execute(
            """
            INSERT INTO reminders_reminder (patient_id, kind, cause_type, cause_id, title, channel,
                step, due_at, available_at, status, attempts, last_error, dedup_key, created_at,
                updated_at)
            SELECT %s, 'appointment', 'benchq', i::text, 'Bench', 'inbox', '{}'::jsonb,
                   now() + (i || ' seconds')::interval, now() + (i || ' seconds')::interval,
                   'pending', 0, '', 'benchq:' || i, now(), now()
            FROM generate_series(1, %s) AS i
            UNION ALL
            SELECT %s, 'appointment', 'benchq', 'due' || i::text, 'Bench', 'inbox', '{}'::jsonb,
                   now() - (i || ' seconds')::interval, now() - (i || ' seconds')::interval,
                   'pending', 0, '', 'benchq:due:' || i, now(), now()
            FROM generate_series(1, %s) AS i
            """,
            [patient.pk, args.rows, patient.pk, args.due],
        )
        fill = time.perf_counter() - started
        cur.execute("ANALYZE reminders_reminder")
        cur.execute("SELECT count(*) FROM reminders_reminder WHERE status = 'pending'")
        pending = cur.fetchone()[0]

    timings = []
    plan = ""
    for run in range(51):
        with transaction.atomic():
            qs = due_reminders_query(now=timezone.now(), limit=limit)
            sql, params = qs.query.get_compiler(connection=connection).as_sql()
            with connection.cursor() as cur:
                if run == 0:
                    cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                    plan = "\n".join(row[0] for row in cur.fetchall())
                    continue
                started = time.perf_counter()
                cur.execute(sql, params)
                rows = cur.fetchall()
                timings.append((time.perf_counter() - started) * 1000)
            transaction.set_rollback(True)
    with connection.cursor() as cur:
        cur.execute("DELETE FROM reminders_reminder WHERE cause_type = 'benchq'")

    print(
        f"\nfilled {args.rows:,} future + {args.due:,} due pending rows in {fill:.1f} s "
        f"({pending:,} pending in the table)"
    )
    print(f"query (limit {limit}), {len(rows)} rows returned:\n")
    print(sql % tuple(repr(str(p)) for p in params))
    print("\n" + plan + "\n")
    print(
        f"median {statistics.median(timings):.2f} ms, p95 "
        f"{sorted(timings)[int(len(timings) * 0.95) - 1]:.2f} ms over {len(timings)} runs"
    )


if __name__ == "__main__":
    main()
