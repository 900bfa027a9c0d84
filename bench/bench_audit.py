"""What the append-only audit log costs, measured against baselines from the same run.

1. Insert rate of ``audit.services.record`` and of a plain SQL insert into ``audit_auditevent``,
   each against the same plain insert into ``bench_audit_plain``: a copy of the table (same
   columns, defaults and indexes) without the append-only trigger. The copy is an ordinary table,
   not a TEMP one: temporary tables skip the write-ahead log and would flatter the baseline.
2. The monthly-report query (one publisher, one month, counts by event type) with the same 200
   matching events in a table of 1,000 events and in one of 100,000: with the
   (publisher, occurred_at) indexes the time should not grow with the table.

Each row's ``ratio`` is the measured figure over its baseline's (a rate for inserts, a time for the
query). Everything runs inside transactions that are rolled back, because the log cannot be cleaned up
any other way (the trigger refuses DELETE), so ``store_bench`` stays empty and every run starts
from the same state.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from bench import database

INSERT_ROWS = 4_000
INSERT_ROUNDS = 4  # the variants take turns, so drift (autovacuum, caches) hits them alike
TARGET_EVENTS = 200  # events of the measured publisher in the measured month
SMALL_TABLE = 1_000
LARGE_TABLE = 100_000
QUERY_REPEATS = 50
PUBLISHER = 1
MONTH_START = datetime(2026, 3, 1, tzinfo=UTC)
MONTH_END = datetime(2026, 4, 1, tzinfo=UTC)

INSERT_SQL = (
    "INSERT INTO {table} (occurred_at, actor_id, actor_email, publisher_id, event_type, target_type,"
    " target_id, data) VALUES (now(), NULL, '', NULL, %s, '', '', %s::jsonb)"
)


class _Rollback(Exception):
    pass


@contextmanager
def _rolled_back() -> Iterator[None]:
    from django.db import transaction

    try:
        with transaction.atomic():
            yield
            raise _Rollback
    except _Rollback:
        pass


def _per_second(rows: int, seconds: float) -> int:
    return round(rows / seconds)


def _timed(action: Callable[[int], Any], rows: int) -> float:
    started = time.perf_counter()
    for i in range(rows):
        action(i)
    return time.perf_counter() - started


def _insert_rates() -> list[dict[str, Any]]:
    from django.db import connection

    from audit import services
    from audit.models import EventType

    totals = {"record": 0.0, "sql_audit": 0.0, "sql_plain": 0.0}
    per_round = INSERT_ROWS // INSERT_ROUNDS
    with _rolled_back(), connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_audit_plain (LIKE audit_auditevent INCLUDING ALL)")

        def record(i: int) -> None:
            services.record(event_type=EventType.PUBLISHER_PROFILE_CHANGED, data={"i": i})

        def sql_into(table: str) -> Callable[[int], None]:
            statement = INSERT_SQL.format(table=table)

            def insert(i: int) -> None:
                cursor.execute(statement, [EventType.PUBLISHER_PROFILE_CHANGED.value, f'{{"i": {i}}}'])

            return insert

        actions = {
            "record": record,
            "sql_audit": sql_into("audit_auditevent"),
            "sql_plain": sql_into("bench_audit_plain"),
        }
        for action in actions.values():  # warm up: plans, caches, first index pages
            _timed(action, 50)
        for _ in range(INSERT_ROUNDS):
            for name, action in actions.items():
                totals[name] += _timed(action, per_round)

    rows = per_round * INSERT_ROUNDS
    plain = _per_second(rows, totals["sql_plain"])
    return [
        {
            "measurement": "insert audit.services.record",
            "per_second": _per_second(rows, totals["record"]),
            "baseline": "SQL insert, copy without trigger",
            "baseline_per_second": plain,
            "ratio": round(totals["sql_plain"] / totals["record"], 2),
        },
        {
            "measurement": "SQL insert into audit_auditevent",
            "per_second": _per_second(rows, totals["sql_audit"]),
            "baseline": "SQL insert, copy without trigger",
            "baseline_per_second": plain,
            "ratio": round(totals["sql_plain"] / totals["sql_audit"], 2),
        },
    ]


def _load_background(cursor: Any, count: int, seed: float) -> None:
    """``count`` events of 100 other publishers, and of this one in other months, over two years."""
    cursor.execute("SELECT setseed(%s)", [seed])
    cursor.execute(
        """
        INSERT INTO audit_auditevent (occurred_at, actor_id, actor_email, publisher_id, event_type,
                                      target_type, target_id, data)
        SELECT timestamptz '2024-03-01 00:00+00' + random() * interval '730 days',
               NULL, '', CASE WHEN mod(g, 10) = 0 THEN %s ELSE 2 + mod(g, 100) END,
               (ARRAY['download.free', 'download.paid', 'purchase', 'publisher.profile_changed'])[1 + mod(g, 4)],
               'listings.product', mod(g, 500)::text, '{}'::jsonb
        FROM generate_series(1, %s) AS g
        """,
        [PUBLISHER, count],
    )


def _load_target_month(cursor: Any) -> None:
    cursor.execute(
        """
        INSERT INTO audit_auditevent (occurred_at, actor_id, actor_email, publisher_id, event_type,
                                      target_type, target_id, data)
        SELECT %s::timestamptz + (g * interval '3 hours'), NULL, '', %s,
               (ARRAY['download.free', 'download.paid', 'purchase'])[1 + mod(g, 3)],
               'listings.product', mod(g, 7)::text, '{}'::jsonb
        FROM generate_series(0, %s - 1) AS g
        """,
        [MONTH_START, PUBLISHER, TARGET_EVENTS],
    )


def _month_query() -> Any:
    from django.db.models import Count

    from audit.models import AuditEvent

    return (
        AuditEvent.objects.filter(
            publisher_id=PUBLISHER, occurred_at__gte=MONTH_START, occurred_at__lt=MONTH_END
        )
        .values("event_type")
        .annotate(n=Count("id"))
        .order_by("event_type")
    )


def _time_month_query() -> tuple[float, str]:
    """Median seconds of the report query, and the indexes its plan uses."""
    counted = sum(row["n"] for row in _month_query())
    assert counted == TARGET_EVENTS, f"the measured month holds {counted} events, not {TARGET_EVENTS}"
    samples = []
    for _ in range(QUERY_REPEATS):
        started = time.perf_counter()
        list(_month_query())
        samples.append(time.perf_counter() - started)
    plan = _month_query().explain()
    indexes = sorted(set(re.findall(r"Index (?:Only )?Scan (?:Backward )?(?:using|on) (\w+)", plan)))
    return statistics.median(samples), ",".join(indexes) or "sequential scan"


def _month_query_scaling() -> list[dict[str, Any]]:
    from django.db import connection

    with _rolled_back(), connection.cursor() as cursor:
        _load_target_month(cursor)
        _load_background(cursor, SMALL_TABLE - TARGET_EVENTS, seed=0.1)
        cursor.execute("ANALYZE audit_auditevent")
        small, small_plan = _time_month_query()
        _load_background(cursor, LARGE_TABLE - SMALL_TABLE, seed=0.2)
        cursor.execute("ANALYZE audit_auditevent")
        large, large_plan = _time_month_query()
    return [
        {
            "measurement": f"publisher-month report query, {LARGE_TABLE:,} events",
            "median_ms": round(large * 1000, 3),
            "baseline": f"same query, {SMALL_TABLE:,} events",
            "baseline_median_ms": round(small * 1000, 3),
            "ratio": round(large / small, 2),
            "plan": large_plan,
            "baseline_plan": small_plan,
        }
    ]


def run() -> list[dict[str, Any]]:
    database.setup()
    return _insert_rates() + _month_query_scaling()
