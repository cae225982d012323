"""Scale mode: the publisher's scan of due jobs on PostgreSQL, before and after migration 0015.

Every gateway and worker process runs the publisher, which looks for jobs to publish each
sweep (``[processes] sweep_seconds``, 0.5 s) and after each accept. Under a backlog nearly every
row of ``jobs`` is leased (to the broker, or to a worker): the scan should not walk them.

In a fresh database at the head revision, a copy of ``jobs`` (same columns and indexes, in a
schema of its own) is filled with a backlog: ``--rows`` jobs, of which ``--unleased`` never
published and ``--lapsed`` whose lease ran out; the rest leased. Then ``EXPLAIN (ANALYZE,
BUFFERS)`` of the scan as it was (one UPDATE over ``due_at``, indexes of 0014) and as it is
(``BrokerQueue``'s two scans on 0015's partial indexes, and its UPDATE), each in a transaction
rolled back. Run:

    OPENDCC_TEST_POSTGRES_URL=$(scripts/test-postgres.sh) \\
        .venv/bin/python benchmarks/publisher_scan.py [--rows 200000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import ClauseElement, Connection, text, update

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.processes.scale import fresh_database

from opendcc.queue.broker import BROKER, BrokerQueue
from opendcc.queue.jobs import due_at, free_at
from opendcc.store import create_engine_for
from opendcc.store.engine import upgrade
from opendcc.store.tables import jobs

LIMIT = 256  # broker.PUBLISH_BATCH


def explain(conn: Connection, label: str, statement: ClauseElement) -> float:
    """Print the plan of ``statement`` run for real (rolled back); its execution time, ms."""
    compiled = statement.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    savepoint = conn.begin_nested()
    rows = conn.exec_driver_sql(
        f"EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) {compiled}", compiled.params
    ).all()
    savepoint.rollback()
    print(f"\n--- {label}")
    took = 0.0
    for (line,) in rows:
        print(f"    {line}")
        if line.startswith("Execution Time:"):
            took = float(line.split()[2])
    return took


def fill(conn: Connection, rows: int, unleased: int, lapsed: int, now: datetime) -> None:
    """A backlog: ``unleased`` never published, ``lapsed`` leases run out, the rest leased to
    the broker (published, waiting) or a worker, over three priorities."""
    conn.execute(
        text(
            """
            INSERT INTO jobs (request_id, run_after, lease_owner, lease_until, attempts,
                              priority, waits_for)
            SELECT 'R-' || n, :now - make_interval(secs => (:rows - n) / 100.0),
                   CASE WHEN n <= :unleased THEN NULL
                        WHEN n % 5 = 0 THEN 'worker-1' ELSE :broker END,
                   CASE WHEN n <= :unleased THEN NULL
                        WHEN n <= :unleased + :lapsed THEN :now - interval '5 seconds'
                        ELSE :now + interval '30 seconds' END,
                   0, CASE WHEN n % 50 = 0 THEN 10 WHEN n % 7 = 0 THEN -1 ELSE 0 END, NULL
            FROM generate_series(1, :rows) AS n
            """
        ),
        {"now": now, "rows": rows, "unleased": unleased, "lapsed": lapsed, "broker": BROKER},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--unleased", type=int, default=300)
    parser.add_argument("--lapsed", type=int, default=20)
    args = parser.parse_args()
    url = os.environ.get("OPENDCC_TEST_POSTGRES_URL")
    if not url:
        sys.exit("set OPENDCC_TEST_POSTGRES_URL (scripts/test-postgres.sh)")
    now = datetime.now(UTC)
    redeliver = now + timedelta(seconds=30)
    with fresh_database(url) as database:
        engine = create_engine_for(database)
        upgrade(engine)
        timings: dict[str, float] = {}
        for schema, indexes in (("before", "0014"), ("after", "0015")):
            with engine.begin() as conn:
                conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
                conn.exec_driver_sql(f"CREATE TABLE {schema}.jobs (LIKE public.jobs INCLUDING ALL)")
                if indexes == "0014":  # 0015's are the only partial indexes on jobs
                    partial = conn.exec_driver_sql(
                        "SELECT indexname FROM pg_indexes WHERE schemaname = %(s)s"
                        " AND indexdef LIKE '%%WHERE%%'",
                        {"s": schema},
                    ).all()
                    for (name,) in partial:
                        conn.exec_driver_sql(f"DROP INDEX {schema}.{name}")
                conn.exec_driver_sql(f"SET LOCAL search_path = {schema}, public")
                started = time.perf_counter()
                fill(conn, args.rows, args.unleased, args.lapsed, now)
                print(f"{schema}: {args.rows:,} jobs in {time.perf_counter() - started:.1f} s")
            with engine.begin() as conn:
                conn.exec_driver_sql(f"ANALYZE {schema}.jobs")
            with engine.begin() as conn:
                conn.exec_driver_sql(f"SET LOCAL search_path = {schema}, public")
                indexes_now = conn.exec_driver_sql(
                    "SELECT indexdef FROM pg_indexes WHERE schemaname = %(s)s", {"s": schema}
                ).all()
                print("indexes: " + "; ".join(d.split(" USING ")[1] for (d,) in indexes_now))
                if schema == "before":  # the publisher until 0015: one UPDATE over due_at
                    due = due_at(now).limit(LIMIT).with_for_update(skip_locked=True)
                    old = (
                        update(jobs)
                        .where(jobs.c.request_id.in_(due))
                        .where(free_at(now))
                        .values(lease_owner=BROKER, lease_until=redeliver)
                    )
                    timings["before"] = explain(conn, "before: UPDATE ... IN (due_at)", old)
                else:
                    queue = BrokerQueue(engine, "amqp://unused")
                    unleased = explain(conn, "after: unleased", queue._unleased(now, LIMIT))
                    lapsed = explain(conn, "after: lapsed", queue._lapsed(now, LIMIT))
                    chosen = [
                        *conn.execute(queue._unleased(now, LIMIT)).scalars(),
                        *conn.execute(queue._lapsed(now, LIMIT)).scalars(),
                    ][:LIMIT]
                    lease = (
                        update(jobs)
                        .where(jobs.c.request_id.in_(sorted(chosen)))
                        .where(free_at(now))
                        .values(lease_owner=BROKER, lease_until=redeliver)
                    )
                    leased = explain(conn, "after: UPDATE of the chosen", lease)
                    timings["after"] = unleased + lapsed + leased
        engine.dispose()
    print(
        f"\nthe scan of {args.rows:,} jobs ({args.unleased} unleased, {args.lapsed} lapsed):"
        f" {timings['before']:.2f} ms before, {timings['after']:.2f} ms after"
    )


if __name__ == "__main__":
    main()
