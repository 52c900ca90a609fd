#!/usr/bin/env python3
"""Benchmark: one full lifecycle run (expire, meter one hour, fund-or-flag, finalise) over
100 K accounts and 1 M credit-paid resources on PostgreSQL, beside a plain GROUP BY aggregate.

Creates a throw-away database, migrates it, generates the data with set-based SQL (a progress
bar per phase on stderr when it is a terminal), VACUUM ANALYZE, then runs `lifecycle_run(at=…)`
once in a fresh Python process and reports wall time per step, peak memory (ru_maxrss and
sampled RSS), the number of SQL statements, the run's counts, the warm time of
`SELECT owner_id, sum(cost_credit_per_second) FROM credits_resource GROUP BY owner_id`, the
maintenance the run leaves (autovacuum is paused while it runs: what autovacuum would then do,
timed), and `manage.py check_ledger --incremental` (from a checkpoint made after generating)
and the full `manage.py check_ledger` afterwards. Prints a markdown table, writes
bench/results/*.json and drops the database (unless --keep).

    bench/lifecycle                                   # 100 000 accounts, 1 000 000 resources
    bench/lifecycle --accounts 10000 --resources 100000 --keep
    bench/lifecycle --save-seed    # also keep the generated data as <db>_seed (a template) ...
    bench/lifecycle --from-seed    # ... and measure again on an identical copy, no generation

The data, anchored at the run's instant T (now, to the second):
- accounts own 1 to 30 resources (20 % one, 8 % thirty, the rest 2–16, adjusted to the total),
  created over the past 90 days, each a copy of one of five instances registered through
  `resource_register` (its costs, cost rows and content), all paid by credit;
- every resource was charged up to the previous hourly run (T − 1 h): its meter row, one
  previous-hour charge each, the account's metering expense and its drain are there, so the
  run meters exactly one hour (one charge per resource);
- lots: a non-expiring grant for everyone, a grant expiring in 1–60 days for half the
  accounts; 90 % of accounts can fund 1.3–60 days, 9 % only 5–95 % of a day (fund-or-flag
  flags their newest resources) and 1 % could fund five days only with a lot that expired
  during the last hour (expiry writes it off, then the account is flagged);
- 40 % of the unfunded accounts were flagged before: their newest resource is `removing`,
  half with a deadline in the last hour (finalise removes it), half later today; 1 % of the
  funded accounts have their newest resource `removing` (the run restores it).

Needs: .venv, PostgreSQL answering on 127.0.0.1:$BENCH_PGPORT (default 55432) as user
postgres without a password, e.g. the embedded one: `.venv/bin/python -m credits_project.localdb
start --dir /tmp/bench-pg --port 55432` (`stop --dir /tmp/bench-pg` afterwards; the settings of
the published runs, huge pages for its buffer cache included: docs/benchmarks.md). The run uses
the server's settings as they are (work_mem …); only the generating session sets work_mem and
synchronous_commit for itself.
"""
from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import math
import os
import platform
import random
import resource as rusage
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
TARGET_SECONDS = 16.0
TOLERATED_SECONDS = 2 * TARGET_SECONDS
TARGET_MEMORY_MB = 500
AGGREGATE_SQL = ("SELECT owner_id, sum(cost_credit_per_second) FROM credits_resource "
                 "GROUP BY owner_id")
TEMPLATE_OWNER = "0x" + "7" * 40


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


class Progress:
    """One generation phase: a progress bar on stderr on a terminal (nothing in a log or a pipe,
    see credits_project.progress), and how long the phase took."""

    def __init__(self, phase: str, total: int, unit: str = "rows"):
        from credits_project.progress import progress_bar  # once django_setup put ROOT on the path

        self.total, self.done = total, 0
        self.bar = progress_bar(desc=f"[bench] {phase}", total=total, unit=unit,
                                unit_scale=total >= 1000)  # 1.00M rows, but 3 steps
        self.started = time.perf_counter()

    def update(self, done: int) -> None:
        """`done` of `total` so far (not an increment)."""
        self.bar.update(done - self.done)
        self.done = done

    def finish(self) -> float:
        self.update(self.total)
        self.bar.close()
        return time.perf_counter() - self.started


def chunks(first: int, last: int, count: int):
    """`count` inclusive id ranges covering first..last."""
    size = max(1, math.ceil((last - first + 1) / count))
    for low in range(first, last + 1, size):
        yield low, min(low + size - 1, last)


# --- machine and environment -------------------------------------------------------------

def machine() -> dict:
    cpu_model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    mem_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal"))
    return {"nproc": os.cpu_count(), "cpu_model": cpu_model,
            "memory_gib": round(mem_kib / 1024 / 1024, 1), "kernel": platform.release(),
            "python": platform.python_version()}


def load_average() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def git_commit() -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    return commit + ("+dirty" if dirty else "")


def bench_server() -> dict:
    """Where the bench's PostgreSQL answers: 127.0.0.1:$BENCH_PGPORT (default 55432)."""
    return {"host": "127.0.0.1", "port": int(os.environ.get("BENCH_PGPORT", "55432"))}


def psql(pg: dict, sql: str, database: str = "postgres") -> str:
    out = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", pg["host"], "-p",
                          str(pg["port"]), "-U", "postgres", "-d", database, "-tAc", sql],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"[bench] psql failed: {sql}\n{out.stderr}")
    return out.stdout.strip()


def database_exists(pg: dict, name: str) -> bool:
    return psql(pg, f"SELECT 1 FROM pg_database WHERE datname = '{name}'") == "1"


def drop_database(pg: dict, name: str) -> None:
    psql(pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- autovacuum --------------------------------------------------------------------------------
# A run's writes cross autovacuum's thresholds (the accounts' watermarks, a million charges) and
# its workers start while the run goes on, or after it, as the launcher's schedule falls: on two
# CPUs they take one from the run for a second or two, in some runs and not in others, more
# often the longer the run (at 1 M, not at 100 K). The bench pauses autovacuum while it measures
# (the run and the limit alike), then does what autovacuum would have done after the run,
# timed on its own: the maintenance the run leaves.

AUTOVACUUM_SETTINGS = ("autovacuum_vacuum_threshold", "autovacuum_vacuum_scale_factor",
                       "autovacuum_vacuum_max_threshold", "autovacuum_vacuum_insert_threshold",
                       "autovacuum_vacuum_insert_scale_factor", "autovacuum_analyze_threshold",
                       "autovacuum_analyze_scale_factor")


def autovacuum_due(tables: list[tuple], settings: dict[str, float]) -> list[dict]:
    """Of `tables`, rows (name, reltuples, dead tuples, inserted since the last vacuum,
    modified since the last analyze) from `pg_stat_user_tables`, those autovacuum would vacuum
    or analyze now by the thresholds of `settings` (the `AUTOVACUUM_SETTINGS` it has; -1
    `reltuples`, never counted, is 0), as {"table", "vacuum", "analyze"}, in name order.
    Tables' own storage parameters are not read: the service sets none."""
    due = []
    for name, reltuples, dead, inserted, modified in sorted(tables):
        tuples = max(reltuples, 0)
        dead_threshold = (settings["autovacuum_vacuum_threshold"]
                          + settings["autovacuum_vacuum_scale_factor"] * tuples)
        if settings.get("autovacuum_vacuum_max_threshold", -1) >= 0:  # PostgreSQL 18
            dead_threshold = min(dead_threshold, settings["autovacuum_vacuum_max_threshold"])
        insert_threshold = (settings["autovacuum_vacuum_insert_threshold"]
                            + settings["autovacuum_vacuum_insert_scale_factor"] * tuples)
        vacuum = dead > dead_threshold or (
            settings["autovacuum_vacuum_insert_threshold"] >= 0 and inserted > insert_threshold)
        analyze = modified > (settings["autovacuum_analyze_threshold"]
                              + settings["autovacuum_analyze_scale_factor"] * tuples)
        if vacuum or analyze:
            due.append({"table": name, "vacuum": vacuum, "analyze": analyze})
    return due


def autovacuum_after_run(cursor) -> dict:
    """What autovacuum would do after the run, done and timed (autocommit: VACUUM). The run's
    backends have ended, so the statistics hold all its writes."""
    cursor.execute("SELECT name, setting::float8 FROM pg_settings WHERE name = ANY(%s)",
                   [list(AUTOVACUUM_SETTINGS)])
    settings = dict(cursor.fetchall())
    cursor.execute("SELECT s.relname, c.reltuples, s.n_dead_tup, s.n_ins_since_vacuum, "
                   "s.n_mod_since_analyze FROM pg_stat_user_tables s "
                   "JOIN pg_class c ON c.oid = s.relid WHERE s.schemaname = 'public'")
    due = autovacuum_due(cursor.fetchall(), settings)
    started = time.perf_counter()
    for table in due:
        statement = ("VACUUM (ANALYZE)" if table["vacuum"] and table["analyze"]
                     else "VACUUM" if table["vacuum"] else "ANALYZE")
        table_started = time.perf_counter()
        cursor.execute(f'{statement} "{table["table"]}"')
        table["statement"] = statement
        table["seconds"] = round(time.perf_counter() - table_started, 3)
    return {"tables": due, "seconds": round(time.perf_counter() - started, 3)}


class AutovacuumPaused:
    """Autovacuum off on the bench's server while the block runs, on again after (`ALTER
    SYSTEM`, reloaded); workers already at work are waited for (a minute at most, then
    cancelled). Nothing is changed when `pause` is false (`--autovacuum`) or the server runs
    without autovacuum already."""

    def __init__(self, pg: dict, pause: bool = True):
        self.pg, self.pause, self.paused = pg, pause, False

    def __enter__(self):
        if not self.pause or psql(self.pg, "SHOW autovacuum") != "on":
            return self
        psql(self.pg, "ALTER SYSTEM SET autovacuum = off")
        psql(self.pg, "SELECT pg_reload_conf()")
        self.paused = True
        workers = "FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
        deadline = time.monotonic() + 60
        while (psql(self.pg, "SHOW autovacuum") != "off"
               or psql(self.pg, f"SELECT count(*) {workers}") != "0"):
            if time.monotonic() > deadline:
                log("autovacuum workers still busy after a minute: cancelled")
                psql(self.pg, f"SELECT pg_cancel_backend(pid) {workers}")
                deadline = time.monotonic() + 60
            time.sleep(0.2)
        return self

    def __exit__(self, *exc):
        if self.paused:
            psql(self.pg, "ALTER SYSTEM RESET autovacuum")
            psql(self.pg, "SELECT pg_reload_conf()")
        return False


# The hand-written limit of a run (issue 14): its statements that do the core of the work, by
# the comment above each in the file; the rest builds its data. Its total is what a run is
# compared with (target: at most twice the limit in one process, 1.2 times with two shards or
# more).
LIMIT_SQL = ROOT.parent / "shared" / "bench" / "lifecycle_limit.sql"
LIMIT_CORE = ("floor", "fund-or-flag, one statement", "meter: charge every whole hour",
              "drain per account aggregated")
TARGET_LIMIT_RATIO = 2.0
TARGET_LIMIT_RATIO_SHARDED = 1.2


def limit_statements(text: str) -> list[tuple[str, str]]:
    """The statements of the limit's SQL file, each with the comment line just above it ("" if
    none); psql's meta-commands (\\timing) left out."""
    statements, label, current = [], "", []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("\\") or (not current and not stripped):
            continue
        if not current and stripped.startswith("--"):
            label = stripped[2:].strip()
            continue
        current.append(line)
        if stripped.endswith(";"):
            statements.append((label, "\n".join(current)))
            label, current = "", []
    return statements


def limit_core(label: str) -> str | None:
    """The part of the core work a statement's label names, or None for set-up."""
    return next((core for core in LIMIT_CORE if label.startswith(core)), None)


def measure_limit(pg: dict, db_name: str, sql_path: Path) -> dict | None:
    """Run the hand-written limit in an empty database of the same server, each statement
    timed; the core statements' total is the limit. None when the file is missing."""
    if not sql_path.exists():
        log(f"no {sql_path}: the hand-written limit is not measured")
        return None
    import psycopg2

    drop_database(pg, db_name)
    psql(pg, f'CREATE DATABASE "{db_name}"')
    timed = []
    try:
        connection = psycopg2.connect(host=pg["host"], port=pg["port"], user="postgres",
                                      dbname=db_name)
        connection.autocommit = True  # VACUUM
        with connection.cursor() as cursor:
            for label, sql in limit_statements(sql_path.read_text()):
                started = time.perf_counter()
                cursor.execute(sql)
                timed.append({"label": label, "core": limit_core(label),
                              "seconds": time.perf_counter() - started})
        connection.close()
    finally:
        drop_database(pg, db_name)
    core = [entry for entry in timed if entry["core"]]
    return {"file": str(sql_path), "statements": timed,
            "core": {entry["core"]: round(entry["seconds"], 3) for entry in core},
            "seconds": sum(entry["seconds"] for entry in core)}


def limits_around(before: dict | None, after: dict | None) -> dict | None:
    """The limit the run is compared with: the mean of the limit measured just before the run
    and just after it (each kept under "before" and "after"). This machine's speed changes by up
    to 2× in phases of seconds (docs/benchmarks.md, tenth step): one limit measured after the
    run alone may meet another phase than the run did; the mean of the two around it does so
    less often. None when the file is missing."""
    if before is None or after is None:
        return None
    core = {name: (before["core"][name] + after["core"][name]) / 2 for name in after["core"]}
    return {"file": after["file"], "before": before, "after": after,
            "core": {name: round(seconds, 3) for name, seconds in core.items()},
            "seconds": (before["seconds"] + after["seconds"]) / 2}


def child_env(pg: dict, db_name: str) -> dict:
    env = {key: value for key, value in os.environ.items()
           if key in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "LIFECYCLE_BATCH_ACCOUNTS")}
    env.update({
        "DJANGO_SETTINGS_MODULE": "credits_project.settings",
        "DATABASE_URL": f"postgres://postgres@{pg['host']}:{pg['port']}/{db_name}",
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "LIFECYCLE_ALLOW_TIME_TRAVEL": "1",  # the run acts as of the data's anchor T
        "PYTHONPATH": str(ROOT),
    })
    return env


def django_setup(env: dict) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


# --- generation ----------------------------------------------------------------------------

def template_instances() -> list[tuple[str, int, dict]]:
    """(label, weight in %, content): five credit-paid instances, E1 the most common."""
    from tests.pricing.contents import instance_content, persistent_volume

    return [
        ("1 vCPU, 2 GiB (E1)", 55, instance_content(payment="credit")),
        ("2 vCPU, 4 GiB", 20, instance_content(payment="credit", vcpus=2, memory=4096)),
        ("1 vCPU + 50 GiB volume", 10, instance_content(
            payment="credit", volumes=[persistent_volume(51200, mount="/data")])),
        ("4 vCPU, 8 GiB, 100 GiB", 10, instance_content(payment="credit", vcpus=4, memory=8192,
                                                        rootfs_size_mib=102400)),
        ("8 vCPU, 16 GiB, 200 GiB", 5, instance_content(payment="credit", vcpus=8, memory=16384,
                                                        rootfs_size_mib=204800)),
    ]


def register_templates(at: dt.datetime) -> list[dict]:
    """Register each template through the service, copy what it stored, roll it all back."""
    from django.db import transaction

    from credits.services.ledger import grant_create
    from credits.services.resources import resource_register

    templates = []
    with transaction.atomic():
        grant_create(address=TEMPLATE_OWNER, amount=10 ** 12, expires_at=None,
                     reference="bench-template", actor="bench", at=at)
        for index, (label, weight, content) in enumerate(template_instances(), start=1):
            content["address"] = TEMPLATE_OWNER
            resource = resource_register(item_hash=f"{index:064x}", message_type="INSTANCE",
                                         content=content, actor="bench", at=at).resource
            templates.append({
                "idx": index, "label": label, "weight": weight, "type": resource.type,
                "content": resource.content, "product_type": resource.product_type,
                "payment_chain": resource.payment_chain,
                "pricing_version_id": resource.pricing_version_id,
                "cost_hold": resource.cost_hold,
                "cost_stream_per_second": resource.cost_stream_per_second,
                "cost_credit_per_second": resource.cost_credit_per_second,
                "size_mib": resource.size_mib,
                "rows": [{"position": row.position, "type": row.type, "name": row.name,
                          "ref": row.ref, "cost_hold": row.cost_hold,
                          "cost_stream_per_second": row.cost_stream_per_second,
                          "cost_credit_per_second": row.cost_credit_per_second,
                          "size_mib": row.size_mib}
                         for row in resource.cost_rows.order_by("position")],
            })
        transaction.set_rollback(True)
    return templates


def account_plan(accounts: int, resources: int, seed: int) -> list[tuple]:
    """Per account: (id, resources, class, removing kind, runway in days, future lot share,
    future lot days). Classes: funded, unfunded, expired (funded only by a lot that expired
    in the last hour). Removing kinds: '' , past, future (unfunded), restore (funded)."""
    if not accounts <= resources <= 30 * accounts:
        raise SystemExit("[bench] need 1 to 30 resources per account")
    rng = random.Random(seed)
    counts = []
    for _ in range(accounts):
        draw = rng.random()
        counts.append(1 if draw < 0.20 else 30 if draw < 0.28 else rng.randint(2, 16))
    total = sum(counts)
    while total != resources:  # nudge random accounts (within 1..30) to the exact total
        i = rng.randrange(accounts)
        if total < resources and counts[i] < 30:
            counts[i] += 1
            total += 1
        elif total > resources and counts[i] > 1:
            counts[i] -= 1
            total -= 1
    plan = []
    for i, count in enumerate(counts, start=1):
        draw = rng.random()
        if draw < 0.09:
            klass, runway = "unfunded", rng.uniform(0.05, 0.95)
            kind_draw = rng.random()
            removing = "past" if kind_draw < 0.2 else "future" if kind_draw < 0.4 else ""
        elif draw < 0.10:
            klass, runway, removing = "expired", rng.uniform(0.05, 0.95), ""
        else:
            klass, runway = "funded", math.exp(rng.uniform(math.log(1.3), math.log(60)))
            removing = "restore" if rng.random() < 0.01 else ""
        share = rng.uniform(0.2, 0.6) if rng.random() < 0.5 else 0.0
        plan.append((i, count, klass, removing, round(runway, 6), round(share, 6),
                     rng.randint(1, 60)))
    return plan


def copy_rows(cursor, table: str, columns: list[str], rows) -> None:
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join("\\N" if value is None else str(value) for value in row) + "\n")
    buffer.seek(0)
    cursor.cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buffer)


def generate(*, at: dt.datetime, accounts: int, resources: int, seed: int,
             history_hours: int = 1) -> dict:
    from django.db import connection, transaction

    from credits.events import (
        accounts_runway_low_announce,
        lots_expiring_announce,
        runway_lasting_after,
    )
    from credits.funding import lot_spendable_sql
    from credits.partitions import (
        charge_partitions_around,
        charge_partitions_ensure,
        month_after,
        month_start,
    )
    from credits.selectors.lifecycle import lifecycle_settings_get
    from credits.services.lifecycle.sql import charge_hour_sql, whole_hours_between

    timings = {}
    started_all = time.perf_counter()
    lifecycle_settings_get()  # the settings row exists in a live system; not part of a run
    templates = register_templates(at)
    log("templates (registered, then rolled back): " + "; ".join(
        f"{t['label']} {t['cost_credit_per_second']} credits/s ({t['weight']} %)"
        for t in templates))
    plan = account_plan(accounts, resources, seed)
    params = {"at": at}
    chunk_count = 10

    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        cursor.execute("SET work_mem = '256MB'")
        cursor.execute("SET maintenance_work_mem = '512MB'")
        cursor.execute("SELECT setseed(%s)", [(seed % 1000) / 1000])

        # -- staging: templates, plan, resources in creation order -------------------------
        progress = Progress("staging", 3, "steps")
        cursor.execute("""
            CREATE UNLOGGED TABLE bench_template (idx int PRIMARY KEY, weight int, type text,
                content jsonb, product_type text, payment_chain text, pricing_version_id bigint,
                cost_hold numeric, cost_stream_per_second numeric,
                cost_credit_per_second numeric, size_mib numeric);
            CREATE UNLOGGED TABLE bench_template_row (idx int, position int, type text, name text,
                ref text, cost_hold numeric, cost_stream_per_second numeric,
                cost_credit_per_second numeric, size_mib numeric);
            CREATE UNLOGGED TABLE bench_plan (account_id bigint PRIMARY KEY, n int, class text,
                removing_kind text, runway float8, future_share float8, future_days int);""")
        for t in templates:
            cursor.execute("INSERT INTO bench_template VALUES "
                           "(%s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s, %s)",
                           [t["idx"], t["weight"], t["type"], json.dumps(t["content"]),
                            t["product_type"], t["payment_chain"], t["pricing_version_id"],
                            t["cost_hold"], t["cost_stream_per_second"],
                            t["cost_credit_per_second"], t["size_mib"]])
            for row in t["rows"]:
                cursor.execute("INSERT INTO bench_template_row VALUES "
                               "(%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                               [t["idx"], row["position"], row["type"], row["name"], row["ref"],
                                row["cost_hold"], row["cost_stream_per_second"],
                                row["cost_credit_per_second"], row["size_mib"]])
        copy_rows(cursor, "bench_plan", ["account_id", "n", "class", "removing_kind", "runway",
                                         "future_share", "future_days"], plan)
        progress.update(1)
        cumulative, template_case = 0, []
        for t in templates:
            cumulative += t["weight"]
            template_case.append(f"WHEN u < {cumulative / 100} THEN {t['idx']}")
        # Ids follow creation time, as in a live system: an account's resources are spread
        # over the table, not side by side.
        cursor.execute(f"""
            CREATE UNLOGGED TABLE bench_res AS
            SELECT (row_number() OVER (ORDER BY created_at, owner_id, k))::bigint AS id,
                   owner_id, created_at, tpl, deadline_draw,
                   row_number() OVER (PARTITION BY owner_id ORDER BY created_at DESC) = 1
                       AS newest
            FROM (SELECT owner_id, k, created_at, deadline_draw,
                         CASE {' '.join(template_case)} ELSE 1 END AS tpl
                  FROM (SELECT p.account_id AS owner_id, g.k, random() AS u,
                               random() AS deadline_draw,
                               %(at)s - interval '2 hours' - random() * interval '90 days'
                                   AS created_at
                        FROM bench_plan p CROSS JOIN LATERAL generate_series(1, p.n) AS g(k)
                        OFFSET 0) drawn) s""", params)
        progress.update(2)
        cursor.execute("CREATE UNIQUE INDEX ON bench_res (id); ANALYZE bench_res; "
                       "ANALYZE bench_plan")
        timings["staging"] = progress.finish()

        # -- accounts ----------------------------------------------------------------------
        progress = Progress("accounts", accounts)
        for low, high in chunks(1, accounts, 5):
            cursor.execute("""
                INSERT INTO credits_account (id, address, created_at)
                SELECT i, '0x' || lpad(i::text, 40, '0'), %(at)s - interval '120 days'
                FROM generate_series(%(low)s, %(high)s) AS i""", {**params, "low": low,
                                                                    "high": high})
            progress.update(high)
        timings["accounts"] = progress.finish()

        # -- resources ---------------------------------------------------------------------
        progress = Progress("resources", resources)
        deadline = ("CASE WHEN p.removing_kind = 'past' "
                    "THEN %(at)s - (1 + 49 * s.deadline_draw) * interval '1 minute' "
                    "ELSE %(at)s + (1 + 22 * s.deadline_draw) * interval '1 hour' END")
        for low, high in chunks(1, resources, chunk_count):
            cursor.execute(f"""
                INSERT INTO credits_resource (id, item_hash, type, content, owner_id,
                    product_type, payment_type, payment_chain, status, removal_reason,
                    removing_since, delete_after, pricing_version_id, cost_hold,
                    cost_stream_per_second, cost_credit_per_second, size_mib, created_at,
                    ended_at)
                SELECT s.id, md5('bench-resource:' || s.id) || md5('bench-hash:' || s.id),
                       t.type,
                       jsonb_set(jsonb_set(t.content, '{{address}}',
                                           to_jsonb('0x' || lpad(s.owner_id::text, 40, '0'))),
                                 '{{time}}', to_jsonb(extract(epoch FROM s.created_at))),
                       s.owner_id, t.product_type, 'credit', t.payment_chain,
                       CASE WHEN x.removing THEN 'removing' ELSE 'processed' END,
                       CASE WHEN x.removing THEN 'credit_insufficient' ELSE '' END,
                       CASE WHEN x.removing THEN GREATEST(s.created_at,
                                                          {deadline} - interval '24 hours') END,
                       CASE WHEN x.removing THEN {deadline} END,
                       t.pricing_version_id, t.cost_hold, t.cost_stream_per_second,
                       t.cost_credit_per_second, t.size_mib, s.created_at, NULL
                FROM bench_res s
                JOIN bench_template t ON t.idx = s.tpl
                JOIN bench_plan p ON p.account_id = s.owner_id
                CROSS JOIN LATERAL (SELECT s.newest AND p.removing_kind <> '' AS removing) x
                WHERE s.id BETWEEN %(low)s AND %(high)s""", {**params, "low": low, "high": high})
            progress.update(high)
        timings["resources"] = progress.finish()

        # -- cost rows and registration audit rows (what registration writes) -------------
        progress = Progress("cost rows + audit rows", resources)
        for low, high in chunks(1, resources, chunk_count):
            cursor.execute("""
                INSERT INTO credits_costrow (resource_id, position, type, name, ref, cost_hold,
                    cost_stream_per_second, cost_credit_per_second, size_mib, pricing_version_id)
                SELECT s.id, tr.position, tr.type, tr.name, tr.ref, tr.cost_hold,
                       tr.cost_stream_per_second, tr.cost_credit_per_second, tr.size_mib,
                       t.pricing_version_id
                FROM bench_res s JOIN bench_template t ON t.idx = s.tpl
                JOIN bench_template_row tr ON tr.idx = s.tpl
                WHERE s.id BETWEEN %(low)s AND %(high)s ORDER BY s.id, tr.position""",
                           {"low": low, "high": high})
            cursor.execute("""
                INSERT INTO credits_resourcestatuschange (resource_id, from_status, to_status,
                                                          reason, actor, at, run_id)
                SELECT r.id, '', 'processed', 'registered', 'bench', r.created_at, NULL::bigint
                FROM credits_resource r WHERE r.id BETWEEN %(low)s AND %(high)s
                UNION ALL
                SELECT r.id, 'processed', 'removing', 'credit_insufficient', 'lifecycle-run:0',
                       r.removing_since, NULL
                FROM credits_resource r
                WHERE r.id BETWEEN %(low)s AND %(high)s AND r.status = 'removing'
                ORDER BY 6""", {"low": low, "high": high})
            progress.update(high)
        timings["cost_and_audit_rows"] = progress.finish()

        # -- credits: lots, their grants, the previous hour's expense and drain -------------
        progress = Progress("ledger and lots", accounts)
        cursor.execute("""
            CREATE UNLOGGED TABLE bench_acct AS
            SELECT r.owner_id AS account_id,
                   SUM(ROUND(r.cost_credit_per_second * 3600))::bigint AS per_hour,
                   CEIL(SUM(r.cost_credit_per_second) * 86400)::bigint AS per_day
            FROM credits_resource r GROUP BY r.owner_id""")
        # Spendable before the run (lot C aside) = this hour's charge + `runway` days; a
        # future-expiring lot B holds `future_share` of it. The previous hour was drained from
        # the soonest-expiring lot: C, else B, else A. Ids: lots 3a-2 (A), 3a-1 (B), 3a (C);
        # entries 4a-3 (A), 4a-2 (B), 4a-1 (C), 4a (the previous hour's expense).
        cursor.execute("""
            CREATE UNLOGGED TABLE bench_lot AS
            WITH s AS (
                SELECT p.account_id AS a, p.class, a.per_hour, a.per_day, p.future_days,
                       a.per_hour + CASE WHEN p.class = 'funded' THEN CEIL(a.per_day * p.runway)
                                         ELSE FLOOR(a.per_day * p.runway) END AS spendable,
                       p.future_share
                FROM bench_plan p JOIN bench_acct a ON a.account_id = p.account_id),
            parts AS (
                SELECT a, class, per_hour, per_day, future_days,
                       FLOOR(spendable * future_share)::bigint AS b_left,
                       (spendable - FLOOR(spendable * future_share))::bigint AS a_left
                FROM s),
            drained AS (
                SELECT *, CASE WHEN class = 'expired' THEN 'C' WHEN b_left > 0 THEN 'B'
                               ELSE 'A' END AS drained_from
                FROM parts)
            SELECT 3 * a - 2 AS lot_id, 4 * a - 3 AS entry_id, a AS account_id,
                   a_left + CASE WHEN drained_from = 'A' THEN per_hour ELSE 0 END AS amount,
                   a_left AS remaining, NULL::timestamptz AS expires_at,
                   %(at)s - interval '100 days' AS created_at,
                   drained_from = 'A' AS drained, per_hour
            FROM drained
            UNION ALL
            SELECT 3 * a - 1, 4 * a - 2, a,
                   b_left + CASE WHEN drained_from = 'B' THEN per_hour ELSE 0 END, b_left,
                   %(at)s + future_days * interval '1 day',
                   %(at)s - (61 - future_days) * interval '12 hours', drained_from = 'B', per_hour
            FROM drained WHERE b_left > 0
            UNION ALL
            SELECT 3 * a, 4 * a - 1, a, 5 * per_day + per_hour, 5 * per_day,
                   %(at)s - (1 + (a %% 58)) * interval '1 minute',
                   %(at)s - interval '30 days', TRUE, per_hour
            FROM drained WHERE class = 'expired'""", params)
        cursor.execute("CREATE INDEX ON bench_lot (account_id); ANALYZE bench_lot; "
                       "ANALYZE bench_acct")
        for low, high in chunks(1, accounts, chunk_count):
            window = {**params, "low": low, "high": high}
            cursor.execute("""
                INSERT INTO credits_ledgerentry (id, account_id, kind, amount, amount_requested,
                    shortfall, expires_at, idempotency_key, request_hash, reference, reason,
                    effective_at, created_by)
                SELECT entry_id, account_id, 'grant', amount, NULL, 0, expires_at,
                       'bench:grant:' || entry_id, '', 'bench-grant-' || entry_id, '', created_at,
                       'bench'
                FROM bench_lot WHERE account_id BETWEEN %(low)s AND %(high)s
                UNION ALL
                SELECT 4 * account_id, account_id, 'expense', -per_hour, per_hour, 0, NULL,
                       'meter:run:0:account:' || account_id, '', 'lifecycle-run:0', 'metering',
                       %(at)s - interval '1 hour', 'lifecycle-run:0'
                FROM bench_acct WHERE account_id BETWEEN %(low)s AND %(high)s
                ORDER BY 1""", window)
            cursor.execute("""
                INSERT INTO credits_lot (id, account_id, entry_id, amount, remaining, expires_at,
                                         created_at)
                SELECT lot_id, account_id, entry_id, amount, remaining, expires_at, created_at
                FROM bench_lot WHERE account_id BETWEEN %(low)s AND %(high)s ORDER BY lot_id""",
                           window)
            cursor.execute("""
                INSERT INTO credits_lotdrain (id, entry_id, lot_id, amount)
                SELECT account_id, 4 * account_id, lot_id, per_hour FROM bench_lot
                WHERE drained AND per_hour > 0 AND account_id BETWEEN %(low)s AND %(high)s
                ORDER BY account_id""", window)
            progress.update(high)
        timings["ledger_and_lots"] = progress.finish()

        # -- the previous hours' charges -----------------------------------------------------
        # Metered up to the previous run, at T - 1 h: the accounts' watermark says it (no meter
        # rows). The last hour's charges belong to the previous hour's expense (entry 4a);
        # `history_hours` - 1 hours before it, to one history expense per account (entry
        # 4A + a, drained whole from a spent history lot 3A + a of grant 5A + a).
        cursor.execute("UPDATE credits_account SET metered_until = %(at)s - interval '1 hour'",
                       params)
        charged = whole_hours_between("%(at)s - interval '1 hour'", "r.created_at")
        first_month = month_start(at - dt.timedelta(hours=history_hours + 1))
        months = [first_month]
        while months[-1] < month_start(at):
            months.append(month_after(months[-1]))
        # And the months the previous hour's run made sure of, as it left them: the run does
        # not make a partition that an hourly service made weeks ago.
        charge_partitions_ensure(sorted({*months, *charge_partitions_around(
            at - dt.timedelta(hours=1))}))
        # In chunks of accounts, in key order (hour, account, resource), as the runs append.
        progress = Progress(f"charges of the previous {history_hours} h", accounts,
                            unit="accounts")
        for low, high in chunks(1, accounts, chunk_count):
            cursor.execute(f"""
                INSERT INTO credits_charge (hour, account_id, resource_id, hour_index,
                    amount_requested, amount_drained, entry_id, run_id, pricing_version_id)
                SELECT {charge_hour_sql(created_at='r.created_at', hour_index='g.k')},
                       r.owner_id, r.id, g.k, ROUND(r.cost_credit_per_second * 3600),
                       ROUND(r.cost_credit_per_second * 3600),
                       CASE WHEN g.k = {charged} - 1 THEN 4 * r.owner_id
                            ELSE 4 * %(accounts)s + r.owner_id END,
                       NULL, r.pricing_version_id
                FROM credits_resource r
                CROSS JOIN LATERAL generate_series(GREATEST(0, {charged} - %(history)s),
                                                   {charged} - 1) AS g(k)
                WHERE r.owner_id BETWEEN %(low)s AND %(high)s
                ORDER BY 1, 2, 3""", {**params, "low": low, "high": high, "accounts": accounts,
                                   "history": history_hours})
            progress.update(high)
        if history_hours > 1:
            cursor.execute("""
                CREATE UNLOGGED TABLE bench_history AS
                SELECT entry_id - 4 * %(accounts)s AS account_id, SUM(amount_drained) AS amount
                FROM credits_charge WHERE entry_id > 4 * %(accounts)s GROUP BY entry_id""",
                           {"accounts": accounts})
            cursor.execute("""
                INSERT INTO credits_ledgerentry (id, account_id, kind, amount, amount_requested,
                    shortfall, expires_at, idempotency_key, request_hash, reference, reason,
                    effective_at, created_by)
                SELECT 5 * %(accounts)s + account_id, account_id, 'grant', amount, NULL::bigint,
                       0, NULL::timestamptz,
                       'bench:history-grant:' || account_id, '', 'bench', '',
                       %(at)s - interval '100 days', 'bench'
                FROM bench_history
                UNION ALL
                SELECT 4 * %(accounts)s + account_id, account_id, 'expense', -amount, amount, 0,
                       NULL, 'meter:history:account:' || account_id, '', 'lifecycle-run:0',
                       'metering', %(at)s - interval '2 hours', 'lifecycle-run:0'
                FROM bench_history ORDER BY 1""", {**params, "accounts": accounts})
            cursor.execute("""
                INSERT INTO credits_lot (id, account_id, entry_id, amount, remaining, expires_at,
                                         created_at)
                SELECT 3 * %(accounts)s + account_id, account_id, 5 * %(accounts)s + account_id,
                       amount, 0, NULL, %(at)s - interval '100 days'
                FROM bench_history ORDER BY 1""", {**params, "accounts": accounts})
            cursor.execute("""
                INSERT INTO credits_lotdrain (id, entry_id, lot_id, amount)
                SELECT %(accounts)s + account_id, 4 * %(accounts)s + account_id,
                       3 * %(accounts)s + account_id, amount
                FROM bench_history ORDER BY 1""", {"accounts": accounts})
            cursor.execute("DROP TABLE bench_history")
        timings["charges"] = progress.finish()

        cursor.execute("DROP TABLE bench_res, bench_template, bench_template_row, bench_plan, "
                       "bench_acct, bench_lot")
        for table in ("credits_account", "credits_resource", "credits_ledgerentry", "credits_lot",
                      "credits_lotdrain", "credits_costrow", "credits_resourcestatuschange"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                           f"(SELECT MAX(id) FROM {table}))")
        cursor.execute("CREATE TABLE bench_meta (at timestamptz, accounts int, resources int, "
                       "seed int)")
        cursor.execute("INSERT INTO bench_meta VALUES (%(at)s, %(accounts)s, %(resources)s, "
                       "%(seed)s)", {**params, "accounts": accounts, "resources": resources,
                                     "seed": seed})

    # -- the previous hour's run's notices ---------------------------------------------------
    # The data is the state after the previous hour's run (its charges, the watermark): that
    # run also sent its notices, so this one announces only what crossed since, as an hourly
    # run does. Sent by the service's own functions, as of an hour before T.
    started = time.perf_counter()
    previous = at - dt.timedelta(hours=1)
    lots_expiring_announce(at=previous)
    lasting_after = runway_lasting_after(previous)
    if lasting_after is not None:
        with transaction.atomic(), connection.cursor() as cursor:
            accounts_runway_low_announce(
                cursor,
                accounts_sql=f"""
                    SELECT r.owner_id AS account_id, SUM(r.cost_credit_per_second) AS rate,
                           COALESCE(MAX(l.lasting), 0) AS lasting
                    FROM credits_resource r
                    LEFT JOIN (SELECT account_id, SUM(remaining) AS lasting FROM credits_lot
                               WHERE {lot_spendable_sql(at='%(lasting_after)s')}
                               GROUP BY account_id) l ON l.account_id = r.owner_id
                    WHERE r.status IN ('processed', 'removing') AND r.payment_type = 'credit'
                    GROUP BY r.owner_id""",
                lots_sql="TRUE", params={"lasting_after": lasting_after}, at=previous)
    timings["previous_notices"] = time.perf_counter() - started

    # -- VACUUM ANALYZE, table by table for the progress line -------------------------------
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname FROM pg_stat_user_tables ORDER BY n_live_tup DESC")
        tables = [row[0] for row in cursor.fetchall()]
        progress = Progress("VACUUM ANALYZE", len(tables), "tables")
        for done, table in enumerate(tables, start=1):
            cursor.execute(f'VACUUM (ANALYZE) "{table}"')
            progress.update(done)
        timings["vacuum_analyze"] = progress.finish()
    timings["ledger_checkpoint"] = ledger_checkpoint(at)
    timings["total"] = time.perf_counter() - started_all
    return {"seconds": {k: round(v, 2) for k, v in timings.items()},
            "templates": [{"label": t["label"], "weight_percent": t["weight"],
                           "cost_credit_per_second": str(t["cost_credit_per_second"])}
                          for t in templates]}


def ledger_checkpoint(at: dt.datetime) -> float:
    """Two ledger checks, so that the data carries a checkpoint whose totals cover all of it
    (a check's rows become final at the next one): the incremental check after the run starts
    from there, as the hourly one does in service."""
    from django.db import connection

    from credits.models import LedgerCheckMode
    from credits.services.ledger_check import ledger_check

    started = time.perf_counter()
    for mode in (LedgerCheckMode.FULL, LedgerCheckMode.INCREMENTAL):
        _checkpoint, drifts = ledger_check(mode=mode, at=at)
        if drifts:
            raise SystemExit(f"the generated ledger has {len(drifts)} drift(s): {drifts[:3]}")
    with connection.cursor() as cursor:
        for table in ("credits_ledgercheckaccount", "credits_ledgerchecklot"):
            cursor.execute(f"VACUUM (ANALYZE) {table}")
    log(f"ledger checkpoint made in {time.perf_counter() - started:.0f} s")
    return time.perf_counter() - started


def data_summary(at: dt.datetime) -> dict:
    """What the data holds before the run, and what the run should therefore do."""
    from django.db import connection

    from credits.services.lifecycle.sql import charged_hours_sql

    charged = charged_hours_sql(meter="m.charged_hours", metered_until="a.metered_until",
                                created_at="r.created_at")
    with connection.cursor() as cursor:
        cursor.execute(f"""
            SELECT COUNT(*),
                   COUNT(*) FILTER (WHERE status = 'removing'),
                   COUNT(*) FILTER (WHERE status = 'removing' AND delete_after <= %(at)s),
                   COALESCE(SUM(
                       FLOOR(EXTRACT(EPOCH FROM (CASE WHEN status = 'removing'
                                                       AND delete_after < %(at)s
                                                      THEN delete_after ELSE %(at)s END
                                                 - r.created_at)) / 3600)::bigint
                       - {charged}), 0),
                   MIN({charged}), MAX({charged}), COUNT(DISTINCT owner_id)
            FROM credits_resource r
            JOIN credits_account a ON a.id = r.owner_id
            LEFT JOIN credits_resourcemeter m ON m.resource_id = r.id
            WHERE payment_type = 'credit' AND status IN ('processed', 'removing')""",
                       {"at": at})
        (live, removing, removing_past_deadline, due_hours, min_hours, max_hours,
         owners) = cursor.fetchone()
        cursor.execute("SELECT COUNT(*), COALESCE(SUM(remaining), 0) FROM credits_lot "
                       "WHERE expires_at <= %s AND remaining > 0", [at])
        lots_due, credits_due = cursor.fetchone()
        sizes = {}
        for table in ("credits_account", "credits_resource", "credits_costrow",
                      "credits_ledgerentry", "credits_lot", "credits_lotdrain", "credits_charge",
                      "credits_resourcestatuschange"):
            # A partitioned table (the charges) is the sum of its partitions.
            cursor.execute("""
                SELECT SUM(GREATEST(c.reltuples, 0))::bigint, SUM(pg_total_relation_size(c.oid))
                FROM pg_class c WHERE c.relkind <> 'p' AND (c.relname = %(t)s OR c.oid IN (
                    SELECT i.inhrelid FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
                    WHERE p.relname = %(t)s))""", {"t": table})
            rows, size = cursor.fetchone()
            sizes[table] = {"rows": rows, "mib": round(size / 2 ** 20)}
        cursor.execute("SELECT pg_database_size(current_database())")
        db_mib = round(cursor.fetchone()[0] / 2 ** 20)
        cursor.execute("SELECT type, COUNT(*) FROM credits_event GROUP BY type ORDER BY type")
        events_before = dict(cursor.fetchall())
    return {"accounts_with_live_resources": owners, "live_credit_resources": live,
            "removing": removing, "removing_past_deadline": removing_past_deadline,
            "resource_hours_due": int(due_hours), "charged_hours_range": [min_hours, max_hours],
            "lots_past_expiry": lots_due, "credits_past_expiry": int(credits_due),
            "tables": sizes, "database_mib": db_mib, "events_before": events_before}


# A database copied file by file (between two checkpoints), not block by block through the
# buffer cache and the WAL (PostgreSQL 15+'s default): a 2.5 GB copy in the WAL made a
# checkpoint start during one of the next runs, writing gigabytes while it was measured.
CLONE = "STRATEGY FILE_COPY"


def prewarm(pg: dict, db_name: str) -> int:
    """Load the service's tables and their indexes into PostgreSQL's buffer cache, as an hourly
    run finds them (the previous hour's run and the API read them; a clone of the seed starts
    with none of its pages there, and the limit's freshly written tables start with all of
    theirs). Not the charges: a run only appends to them, and their history (gigabytes with
    `--history-hours`) is nothing an hourly run keeps in memory. Returns the MiB loaded."""
    loaded = psql(pg, """
        CREATE EXTENSION IF NOT EXISTS pg_prewarm;
        WITH service AS (
            SELECT c.oid FROM pg_class c
            WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
              AND c.relname LIKE 'credits%' AND c.relname NOT LIKE 'credits_charge%')
        SELECT COALESCE(SUM(pg_prewarm(oid)), 0) * current_setting('block_size')::bigint
               / 1048576
        FROM (SELECT oid FROM service
              UNION ALL
              SELECT i.indexrelid FROM pg_index i JOIN service s ON s.oid = i.indrelid) r""",
                  database=db_name)
    mib = round(float(loaded.strip().splitlines()[-1]))
    log(f"prewarmed {mib:,} MiB of the service's tables and indexes")
    return mib


# --- the measured run (in its own process) -------------------------------------------------

class RssSampler(threading.Thread):
    """Samples the process's resident set size every 20 ms (max kept)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.max_bytes = self.current()
        self.stopping = threading.Event()

    def current(self) -> int:
        return int(Path("/proc/self/statm").read_text().split()[1]) * self.page

    def run(self) -> None:
        while not self.stopping.wait(0.02):
            self.max_bytes = max(self.max_bytes, self.current())

    def stop(self) -> int:
        self.stopping.set()
        self.join()
        self.max_bytes = max(self.max_bytes, self.current())
        return self.max_bytes


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process on this machine (the PostgreSQL backend)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(at: dt.datetime, shards: int = 1, autovacuum_paused: bool = True) -> dict:
    from django.conf import settings
    from django.core.management import CommandError, call_command
    from django.db import connection
    from django.db.models import Count

    from credits.models import Event, EventType, LedgerCheckpoint, LifecycleRun
    from credits.services.lifecycle import lifecycle_run
    from credits.services.lifecycle_shards import lifecycle_run_parent_create, lifecycle_shard_run

    connection.ensure_connection()
    with connection.cursor() as cursor:  # the server's settings the run works with
        cursor.execute("SELECT version(), current_setting('work_mem'), "
                       "current_setting('shared_buffers'), current_setting('fsync'), "
                       "current_setting('synchronous_commit'), "
                       "current_setting('max_parallel_workers_per_gather'), "
                       "current_setting('huge_pages_status', true)")
        (version, work_mem, shared_buffers, fsync, sync_commit, parallel,
         huge_pages) = cursor.fetchone()
        cursor.execute("SELECT pg_backend_pid()")
        backend_pid = cursor.fetchone()[0]
    statements = 0
    by_kind: dict[str, list] = {}  # statement shape -> [count, seconds]: a few dozen entries

    def count(execute, sql, params, many, context):
        # Counts and times per statement shape only: keeping every statement's text would
        # be part of the memory measured.
        nonlocal statements
        statements += 1
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            kind = by_kind.setdefault(" ".join(sql[:400].split())[:90], [0, 0.0])
            kind[0] += 1
            kind[1] += time.perf_counter() - started

    # Commits are not statements the wrapper sees: time them too (a batch's deferred
    # foreign-key checks run at its commit).
    commits = []
    plain_commit = connection._commit

    def timed_commit():
        started = time.perf_counter()
        try:
            return plain_commit()
        finally:
            commits.append(time.perf_counter() - started)

    connection._commit = timed_commit
    sampler = RssSampler()
    rss_before = sampler.current()
    sampler.start()
    backend_cpu_before = process_cpu_seconds(backend_pid)
    own = rusage.getrusage(rusage.RUSAGE_SELF)
    shard_reports = []
    # When each batch ended, and its accounts (one process): the batches after the first are
    # timed alone (the first also holds expire and the account list).
    batch_ends: list[tuple[float, int]] = []
    with connection.execute_wrapper(count):
        if shards <= 1:
            started = time.perf_counter()
            run = lifecycle_run(at=at, trigger="bench", on_progress=lambda accounts: batch_ends
                                .append((time.perf_counter(), accounts)))
            run_seconds = time.perf_counter() - started
            summary = run
        else:
            # As a Celery group of shard tasks on `shards` workers: shard 0 here, the others
            # in processes of their own (set up first, then all started at once).
            parent = lifecycle_run_parent_create(shard_count=shards, trigger="bench", at=at)
            helpers = [subprocess.Popen(
                [PYTHON, __file__, "--shard-child", at.isoformat(), str(parent.pk), str(index),
                 str(shards)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                text=True) for index in range(1, shards)]
            for helper in helpers:
                assert helper.stdout.readline().strip() == "ready"
            started = time.perf_counter()
            for helper in helpers:
                helper.stdin.write("go\n")
                helper.stdin.flush()
            run = lifecycle_shard_run(parent_id=parent.pk, shard_index=0, shard_count=shards,
                                      at=at)
            shard_reports.append({"index": 0, "seconds": round(time.perf_counter() - started, 3),
                                  "status": run.status})
            for helper in helpers:
                out, _ = helper.communicate()
                shard_reports.append(json.loads(out.strip().splitlines()[-1]))
            run_seconds = time.perf_counter() - started
            summary = LifecycleRun.objects.get(pk=parent.pk)
    rss_max = sampler.stop()
    backend_cpu_after = process_cpu_seconds(backend_pid)
    own_after = rusage.getrusage(rusage.RUSAGE_SELF)
    cpu = {"python_seconds": round(own_after.ru_utime + own_after.ru_stime
                                   - own.ru_utime - own.ru_stime, 2),
           "postgres_backend_seconds": (round(backend_cpu_after - backend_cpu_before, 2)
                                        if backend_cpu_before is not None
                                        and backend_cpu_after is not None else None)}
    connection._commit = plain_commit
    maxrss_kib = rusage.getrusage(rusage.RUSAGE_SELF).ru_maxrss
    counts = run.counts
    steps = {"expire": counts.seconds_expire, "meter": counts.seconds_meter,
             "fund_or_flag": counts.seconds_fund_or_flag, "finalise": counts.seconds_finalise,
             "alerts": counts.seconds_alerts}
    steps["other"] = run_seconds - sum(steps.values())

    aggregate = []
    with connection.cursor() as cursor:
        for _ in range(2):
            started = time.perf_counter()
            cursor.execute(AGGREGATE_SQL)
            rows = cursor.fetchall()
            aggregate.append(time.perf_counter() - started)
        cursor.execute(f"EXPLAIN (ANALYZE, TIMING OFF) {AGGREGATE_SQL}")
        plan = [row[0] for row in cursor.fetchall()]
    server_ms = next((float(line.split(":")[1].split()[0]) for line in plan
                      if line.startswith("Execution Time")), None)

    # The run's backends gone (this one closed, the shards' exited), the statistics hold all
    # its writes: then what autovacuum, paused by the bench, would do after it.
    maintenance = None
    if autovacuum_paused:
        connection.close()
        with connection.cursor() as cursor:
            others = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                      "AND backend_type = 'client backend' AND pid <> pg_backend_pid()")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                cursor.execute(others)
                if cursor.fetchone()[0] == 0:
                    break
                time.sleep(0.05)
            maintenance = autovacuum_after_run(cursor)

    def check_ledger(*flags: str) -> dict:
        out = io.StringIO()
        started = time.perf_counter()
        try:
            call_command("check_ledger", *flags, at=at.isoformat(), stdout=out, stderr=out)
            clean = True
        except CommandError as exc:
            clean = False
            out.write(str(exc))
        return {"clean": clean, "seconds": round(time.perf_counter() - started, 2),
                "output": out.getvalue().strip()[-2000:]}

    alerts = dict(Event.objects.filter(
        occurred_at=at, type__in=[EventType.ACCOUNT_RUNWAY_LOW, EventType.ACCOUNT_CREDITS_EXPIRING])
        .values_list("type").annotate(n=Count("id")))

    # The incremental check first: from the seed's checkpoint it reads what the run appended.
    incremental = check_ledger("--incremental")
    incremental["entries_read"] = LedgerCheckpoint.objects.latest().entries_read
    full = check_ledger()

    return {
        "server": {"version": version, "work_mem": work_mem, "shared_buffers": shared_buffers,
                   "fsync": fsync, "synchronous_commit": sync_commit,
                   "max_parallel_workers_per_gather": parallel, "huge_pages": huge_pages},
        "run": {"id": summary.pk, "status": summary.status, "errors": summary.errors,
                "error_messages": summary.error_messages[:2000],
                "batch_accounts": settings.LIFECYCLE_BATCH_ACCOUNTS,
                "seconds_total": round(run_seconds, 3),
                "seconds": {k: round(v, 3) for k, v in steps.items()},
                "statements": statements,
                "batches": [{"seconds": round(end - previous_end, 4), "accounts": accounts}
                            for (previous_end, _), (end, accounts)
                            in zip(batch_ends, batch_ends[1:])],
                "cpu": cpu,
                "commits": len(commits), "seconds_in_commits": round(sum(commits), 3),
                "slowest_statements": [
                    {"sql": sql, "count": n, "seconds": round(seconds, 3)}
                    for sql, (n, seconds)
                    in sorted(by_kind.items(), key=lambda kv: -kv[1][1])[:12]],
                "shards": shard_reports,
                "counts": {name: getattr(summary, name) for name in LifecycleRun.COUNT_FIELDS},
                # the events of the account alerts the run wrote (every shard's: from the
                # table, at the run's instant; the previous hour's are an hour before)
                "alerts": {"runway_low": alerts.get(EventType.ACCOUNT_RUNWAY_LOW, 0),
                           "credits_expiring":
                               alerts.get(EventType.ACCOUNT_CREDITS_EXPIRING, 0)}},
        "memory": {"ru_maxrss_mib": round(maxrss_kib / 1024, 1),
                   "rss_before_run_mib": round(rss_before / 2 ** 20, 1),
                   "rss_sampled_max_mib": round(rss_max / 2 ** 20, 1)},
        "aggregate": {"sql": AGGREGATE_SQL, "rows": len(rows),
                      "seconds_cold": round(aggregate[0], 3),
                      "seconds_warm": round(aggregate[1], 3),
                      "server_execution_ms": server_ms, "plan": plan},
        "maintenance": maintenance,
        "check_ledger": full,
        "check_ledger_incremental": incremental,
    }


# --- report ----------------------------------------------------------------------------------

def _limit_lines(limit: dict | None) -> list[str]:
    """The hand-written limit's rows of the results table, with the run's ratio to it."""
    if limit is None:
        return []
    def parts(measured: dict) -> str:
        return ", ".join(f"{name} {seconds:.2f} s" for name, seconds in measured["core"].items())

    verdict = ("meets" if limit["ratio"] <= limit["target_ratio"] else "misses")
    return [f"| hand-written limit (`lifecycle_limit.sql`, same server, same bench) just before "
            f"the run: {parts(limit['before'])} (run / limit {limit['before']['ratio']:.2f}×) | "
            f"{limit['before']['seconds']:.2f} s |",
            f"| the same just after the run: {parts(limit['after'])} (run / limit "
            f"{limit['after']['ratio']:.2f}×) | {limit['after']['seconds']:.2f} s |",
            f"| hand-written limit, the mean of the two: {parts(limit)} | "
            f"{limit['seconds']:.2f} s |",
            f"| **run / limit** | **{limit['ratio']:.2f}×** ({verdict} the target "
            f"≤ {limit['target_ratio']:.1f}×) |"]


def _maintenance_lines(maintenance: dict | None) -> list[str]:
    """The row of what autovacuum would do after the run (none when it was left running)."""
    if maintenance is None:
        return []
    done = ", ".join(f"{table['statement']} `{table['table']}` {table['seconds']:.2f} s"
                     for table in maintenance["tables"])
    return [f"| maintenance the run leaves (what autovacuum, paused during the run, would do "
            f"after it: {done or 'nothing'}) | {maintenance['seconds']:.2f} s |"]


def markdown(report: dict) -> str:
    m, run, mem, agg = report["machine"], report["run"], report["memory"], report["aggregate"]
    c, s = run["counts"], run["seconds"]
    total = run["seconds_total"]
    verdict = ("meets the target" if total <= TARGET_SECONDS else
               f"misses the target by {total - TARGET_SECONDS:.1f} s (within the tolerated "
               f"{TOLERATED_SECONDS:.0f} s)" if total <= TOLERATED_SECONDS else
               f"misses the target by {total - TARGET_SECONDS:.1f} s and the tolerated "
               f"{TOLERATED_SECONDS:.0f} s")
    ledger = report["check_ledger"]
    incremental = report.get("check_ledger_incremental")
    data = report["data"]
    lines = [
        f"### `{report['command']}` — {report['date'][:10]}, commit {report['commit']}",
        "",
        f"Machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB; "
        f"{report['server']['version'].split(' on ')[0]} on loopback (work_mem "
        f"{report['server']['work_mem']}, shared_buffers {report['server']['shared_buffers']}, "
        f"huge pages {report['server'].get('huge_pages') or 'unknown'}, "
        f"fsync {report['server']['fsync']}); Python {m['python']}; load average before the "
        f"run {report['load_average_before_run'][0]:.2f}.",
        f"Data: {data['accounts_with_live_resources']:,} accounts, "
        f"{data['live_credit_resources']:,} live credit resources "
        f"({data['removing']:,} removing, {data['removing_past_deadline']:,} past their "
        f"deadline), {data['resource_hours_due']:,} resource-hours due, "
        f"{data['lots_past_expiry']:,} lots past expiry, "
        f"{data['tables']['credits_charge']['rows']:,} charges already made "
        f"({data['tables']['credits_charge']['mib']:,} MiB); the previous hour's run's notices "
        f"already sent ("
        + (", ".join(f"`{kind}` {count:,}"
                     for kind, count in data.get("events_before", {}).items()) or "none")
        + "); database "
        f"{data['database_mib']:,} MiB; "
        + (f"generated in {report['generation']['seconds']['total']:.0f} s."
           if report.get("generation") else "cloned from the seed.")
        + (f" Before the run, the service's tables and indexes but the charges were loaded "
           f"into PostgreSQL's buffer cache ({report['prewarmed_mib']:,} MiB, `pg_prewarm`), "
           f"as an hourly run finds them."
           if report.get("prewarmed_mib") is not None
           else " The run starts with none of its pages in PostgreSQL's buffer cache "
                "(`--no-prewarm`)."),
        "",
        *([f"Run as {len(run['shards'])} shards at once, one process each (as "
           f"`LIFECYCLE_SHARDS={len(run['shards'])}` on as many Celery workers): shards took "
           + ", ".join(f"{shard['seconds']:.1f} s" for shard in run["shards"])
           + "; the steps, statements, commits, CPU and memory below are shard 0's, the "
             "counts are all shards'.", ""] if run.get("shards") else []),
        "| step | wall time |",
        "|---|---:|",
        f"| expire (lots past expiry; lots expiring soon announced) | {s['expire']:.2f} s |",
        f"| meter (one hour) | {s['meter']:.2f} s |",
        f"| fund or flag | {s['fund_or_flag']:.2f} s |",
        f"| finalise | {s['finalise']:.2f} s |",
        *([f"| runway alerts (`account.runway_low`) | {s['alerts']:.2f} s |"]
          if "alerts" in s else []),
        f"| other (account list, locks, batch set-up, commits, record) | {s['other']:.2f} s |",
        f"| **full run** | **{total:.2f} s** ({verdict}; target ≤ {TARGET_SECONDS:.0f} s) |",
        f"| plain `SELECT owner_id, sum(cost_credit_per_second) … GROUP BY owner_id`, warm | "
        f"{agg['seconds_warm']:.3f} s (cold {agg['seconds_cold']:.3f} s; server "
        f"{agg['server_execution_ms']:.0f} ms; {agg['rows']:,} rows) |",
        *_maintenance_lines(report.get("maintenance")),
        *([f"| `check_ledger --incremental` afterwards, from the seed's checkpoint | "
           f"{incremental['seconds']:.1f} s ({incremental.get('entries_read', 0):,} entries "
           f"read), {'clean' if incremental['clean'] else 'DRIFTS'} |"]
          if incremental else []),
        f"| `check_ledger` (the full audit) afterwards | {ledger['seconds']:.1f} s, "
        f"{'clean' if ledger['clean'] else 'DRIFTS'} |",
        *_limit_lines(report.get("limit")),
        "",
        f"Peak memory of the run's process: {mem['ru_maxrss_mib']:.0f} MiB (ru_maxrss; sampled "
        f"RSS {mem['rss_before_run_mib']:.0f} MiB before the run, {mem['rss_sampled_max_mib']:.0f}"
        f" MiB at most; target < {TARGET_MEMORY_MB} MB). SQL statements: "
        f"{run['statements']:,}; {run['commits']} commits took {run['seconds_in_commits']:.1f} s "
        f"(part of \"other\"). CPU used "
        f"during the run: PostgreSQL backend {run['cpu']['postgres_backend_seconds']} s, "
        f"Python {run['cpu']['python_seconds']} s (the rest of the wall time is waiting: I/O, "
        f"or the CPUs busy with other work).",
        *_batch_lines(run),
        f"Counts: {c['accounts']:,} accounts, {c['resources']:,} resources, {c['charges']:,} "
        f"charges ({c['credits_charged']:,} credits, {c['credits_short']:,} short), "
        f"{c['expired_credits']:,} credits expired, {c['flagged']:,} flagged, "
        f"{c['restored']:,} restored, {c['removed']:,} removed, {c['errors']} errors"
        + (f"; events `account.runway_low` {run['alerts']['runway_low']:,}, "
           f"`account.credits_expiring` {run['alerts']['credits_expiring']:,}"
           if run.get("alerts") else "") + ".",
        "",
        "| slowest statements of the run (start of the SQL) | times | seconds |",
        "|---|---:|---:|",
    ]
    lines += [f"| `{row['sql'][:80]}` | {row['count']} | {row['seconds']:.2f} |"
              for row in run["slowest_statements"][:8]]
    return "\n".join(lines)


def batch_us_per_resource(run: dict) -> list[float]:
    """µs per resource of each batch timed alone (the batches after the first; one process),
    counting the run's resources per account in each batch."""
    counts = run["counts"]
    per_account = counts["resources"] / counts["accounts"] if counts["accounts"] else 0
    return [batch["seconds"] / (batch["accounts"] * per_account) * 1e6
            for batch in run.get("batches", []) if batch["accounts"] and per_account]


def _batch_lines(run: dict) -> list[str]:
    timed = batch_us_per_resource(run)
    if not timed:
        return []
    return [f"Batches timed alone (after the first): {len(timed)}, µs per resource median "
            f"{statistics.median(timed):.2f}, best {min(timed):.2f}, worst {max(timed):.2f}."]


# --- main ------------------------------------------------------------------------------------

def child_main(argv: list[str]) -> int:
    at = dt.datetime.fromisoformat(argv[0])
    django_setup({})  # the parent set the environment
    print(json.dumps(measure(at, shards=int(argv[1]), autovacuum_paused=argv[2] == "paused"),
                     default=str))
    return 0


def shard_child_main(argv: list[str]) -> int:
    """One more shard of a sharded measured run: ready, wait for "go", run, report."""
    at, parent_id, index, count = (dt.datetime.fromisoformat(argv[0]), int(argv[1]),
                                   int(argv[2]), int(argv[3]))
    django_setup({})
    from django.db import connection

    from credits.services.lifecycle_shards import lifecycle_shard_run

    connection.ensure_connection()
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.perf_counter()
    run = lifecycle_shard_run(parent_id=parent_id, shard_index=index, shard_count=count, at=at)
    print(json.dumps({"index": index, "seconds": round(time.perf_counter() - started, 3),
                      "status": run.status}))
    return 0


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--measure-child":
        return child_main(sys.argv[2:])
    if len(sys.argv) > 1 and sys.argv[1] == "--shard-child":
        return shard_child_main(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--resources", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, default=1,
                        help="run as N shards in N processes at once, as N Celery workers do "
                             "(LIFECYCLE_SHARDS); default 1: one process")
    parser.add_argument("--keep", action="store_true", help="do not drop the database at the end")
    parser.add_argument("--db", default=os.environ.get("BENCH_DBNAME", "bench_lifecycle"))
    parser.add_argument("--seed", type=int, default=20240601, help="random seed of the data")
    parser.add_argument("--save-seed", action="store_true",
                        help="keep a copy of the generated data as database <db>_seed")
    parser.add_argument("--limit-sql", type=Path, default=LIMIT_SQL,
                        help="the hand-written limit, run beside the lifecycle in the same bench "
                             "(default: ../shared/bench/lifecycle_limit.sql)")
    parser.add_argument("--no-prewarm", action="store_true",
                        help="start the run with none of the service's pages in PostgreSQL's "
                             "buffer cache (default: loaded first, as an hourly run finds them)")
    parser.add_argument("--no-limit", action="store_true",
                        help="do not run the hand-written limit")
    parser.add_argument("--history-hours", type=int, default=1,
                        help="charges already made for the last N hours of each resource "
                             "(default 1: the previous hour only)")
    parser.add_argument("--autovacuum", action="store_true",
                        help="leave autovacuum running during the run and the limit (default: "
                             "paused, and what it would do after the run done and timed)")
    parser.add_argument("--from-seed", action="store_true",
                        help="clone <db>_seed (made by --save-seed) instead of generating")
    args = parser.parse_args()
    if not 1 <= args.accounts <= 10_000_000:
        parser.error("--accounts: 1 to 10 000 000")
    pg = bench_server()
    if subprocess.run(["pg_isready", "-q", "-h", pg["host"], "-p", str(pg["port"])]).returncode:
        parser.error(f"no PostgreSQL answers on {pg['host']}:{pg['port']} (BENCH_PGPORT); start "
                     f"one: .venv/bin/python -m credits_project.localdb start --dir "
                     f"/tmp/bench-pg --port {pg['port']}")
    seed_db = f"{args.db}_seed"
    if args.from_seed and not database_exists(pg, seed_db):
        parser.error(f"no database {seed_db}: make it with --save-seed first")
    env = child_env(pg, args.db)
    generation = None
    limit_before = None
    try:
        drop_database(pg, args.db)
        if args.from_seed:
            log(f"cloning {seed_db} into {args.db}")
            psql(pg, f'CREATE DATABASE "{args.db}" TEMPLATE "{seed_db}" {CLONE}')
            # A seed made before a migration gets it (nothing to do when it has them all).
            subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT,
                           env=env, check=True)
            django_setup(env)
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute("SELECT at FROM bench_meta")
                at = cursor.fetchone()[0]
        else:
            at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
            psql(pg, f'CREATE DATABASE "{args.db}"')
            log(f"migrating {args.db}")
            subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT,
                           env=env, check=True)
            django_setup(env)
            log(f"generating {args.accounts:,} accounts and {args.resources:,} resources "
                f"anchored at T = {at.isoformat()}")
            generation = generate(at=at, accounts=args.accounts, resources=args.resources,
                                  seed=args.seed, history_hours=args.history_hours)
            log(f"generated in {generation['seconds']['total']:.0f} s")
        from django.db import connection

        data = data_summary(at)
        log(f"data: {data['live_credit_resources']:,} live credit resources of "
            f"{data['accounts_with_live_resources']:,} accounts, "
            f"{data['resource_hours_due']:,} resource-hours due, database "
            f"{data['database_mib']:,} MiB")
        connection.close()
        if args.save_seed and not args.from_seed:
            drop_database(pg, seed_db)
            psql(pg, f'CREATE DATABASE "{seed_db}" TEMPLATE "{args.db}" {CLONE}')
            log(f"saved the data as {seed_db} (drop it with: psql -h {pg['host']} -p "
                f"{pg['port']} -U postgres -c 'DROP DATABASE {seed_db}')")

        if not args.no_limit:
            log("the hand-written limit (lifecycle_limit.sql) on the same server, before the "
                "run …")
            with AutovacuumPaused(pg, pause=not args.autovacuum):
                limit_before = measure_limit(pg, f"{args.db}_limit", args.limit_sql)
        prewarmed_mib = None if args.no_prewarm else prewarm(pg, args.db)
        # The set-up's writes (the generation, the clone) checkpointed before the run, not by
        # a checkpoint during it.
        psql(pg, "CHECKPOINT")
        load_before = load_average()
        if load_before[0] > 0.5:
            log(f"warning: load average {load_before[0]:.2f} before the run; other processes "
                f"compete for the 2 CPUs and the numbers will be noisy")
        log(f"lifecycle_run(at={at.isoformat()}) in a fresh process …")
        with AutovacuumPaused(pg, pause=not args.autovacuum):
            child = subprocess.run([PYTHON, __file__, "--measure-child", at.isoformat(),
                                    str(args.shards),
                                    "running" if args.autovacuum else "paused"], cwd=ROOT,
                                   env=env, capture_output=True, text=True)
        if child.returncode != 0:
            log(f"FAILED: the measured run exited {child.returncode}:\n{child.stderr[-4000:]}")
            return 1
        measured = json.loads(child.stdout.strip().splitlines()[-1])
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        try:
            from django.db import connection

            connection.close()
        except Exception:  # django not set up yet
            pass
        if not args.keep:
            drop_database(pg, args.db)
            log(f"dropped {args.db}")
        else:
            log(f"kept {args.db}")

    limit = None
    if not args.no_limit:
        log("the hand-written limit (lifecycle_limit.sql) on the same server, after the run …")
        with AutovacuumPaused(pg, pause=not args.autovacuum):
            limit = limits_around(limit_before,
                                  measure_limit(pg, f"{args.db}_limit", args.limit_sql))

    report = {
        "benchmark": "lifecycle",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["bench/lifecycle", *sys.argv[1:]]),
        "commit": git_commit(),
        "machine": machine(),
        "load_average_before_run": load_before,
        "as_of": at.isoformat(),
        "generation": generation,
        "data": data,
        "prewarmed_mib": prewarmed_mib,
        **measured,
        "target": {"seconds": TARGET_SECONDS, "tolerated_seconds": TOLERATED_SECONDS,
                   "memory_mb": TARGET_MEMORY_MB},
    }
    total = report["run"]["seconds_total"]
    if limit is not None:
        limit["ratio"] = total / limit["seconds"]
        for side in ("before", "after"):
            limit[side]["ratio"] = total / limit[side]["seconds"]
        limit["target_ratio"] = (TARGET_LIMIT_RATIO_SHARDED if args.shards > 1
                                 else TARGET_LIMIT_RATIO)
    report["limit"] = limit
    report["meets_target"] = (total <= TARGET_SECONDS
                              and report["memory"]["ru_maxrss_mib"] < TARGET_MEMORY_MB)
    report["within_tolerance"] = total <= TOLERATED_SECONDS
    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    out_path = results_dir / f"lifecycle-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    out_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print("\n" + markdown(report) + "\n")
    log(f"results: {out_path.relative_to(ROOT)}")
    problems = []
    if report["run"]["errors"]:
        problems.append(f"{report['run']['errors']} failed batch(es): "
                        f"{report['run']['error_messages'][:500]}")
    for key in ("check_ledger", "check_ledger_incremental"):
        if not report[key]["clean"]:
            problems.append(f"{key} found drifts:\n" + report[key]["output"])
    if report["run"]["counts"]["charges"] != data["resource_hours_due"]:
        problems.append(f"{report['run']['counts']['charges']:,} charges for "
                        f"{data['resource_hours_due']:,} resource-hours due")
    for problem in problems:
        log(f"FAILED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
