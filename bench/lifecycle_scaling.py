#!/usr/bin/env python3
"""Benchmark: how the lifecycle run's cost per resource grows with size.

Runs `bench/lifecycle --from-seed --no-limit` at each size (default 10 K, 100 K and 1 M credit
resources, a tenth as many accounts), the sizes alternately, round after round, so that a change
of the machine's speed during the series weighs on every size alike. Each size has its own seed
database (`bench_scale_<resources>_seed`), generated once by `bench/lifecycle --save-seed` when
it is missing. Prints, per size, the µs per resource of every run, the best, median and mean,
each step's best, and the growth from the size before; writes bench/results/scaling-*.json.

It also prints the median µs per resource of the batches timed alone (every batch of a run in
one process but its first, which also holds expire and the account list). A batch takes about
as long at every size (5,000 accounts), so each one's time meets the machine's speed over the
same length of time, where a whole run at 1 M (20 s) and one at 100 K (2 s) do not: on a
machine whose speed varies from second to second, the best and the median of short runs come
out lower than those of long runs of the same work (docs/benchmarks.md, "Issue 14, tenth step").
The run's fixed costs (expire, the account list, its record) are not in the batches; they are
the same at every size, so they weigh less per resource the larger the run.

Needs what bench/lifecycle needs (a PostgreSQL on 127.0.0.1:$BENCH_PGPORT, see
docs/benchmarks.md). About 45 s a round at 1 M on two cores, plus a few minutes per seed made.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import statistics
import subprocess
import sys

# bench/ is the script's directory
from lifecycle_bench import PYTHON, ROOT, batch_us_per_resource, bench_server, database_exists

BENCH = ROOT / "bench" / "lifecycle_bench.py"
RESULTS_LINE = re.compile(r"results: (bench/results/\S+\.json)")


def log(message: str) -> None:
    print(f"[scaling] {message}", file=sys.stderr, flush=True)


def bench_args(resources: int) -> list[str]:
    return ["--db", f"bench_scale_{resources}", "--accounts", str(max(1, resources // 10)),
            "--resources", str(resources), "--no-limit"]


def bench_run(resources: int, *extra: str) -> dict:
    """One `bench/lifecycle` run at `resources`; its report (the results file it wrote)."""
    done = subprocess.run([str(PYTHON), str(BENCH), *bench_args(resources), *extra], cwd=ROOT,
                          capture_output=True, text=True)
    found = RESULTS_LINE.findall(done.stderr + done.stdout)
    if done.returncode != 0 or not found:
        raise SystemExit(f"[scaling] bench/lifecycle at {resources:,} resources failed "
                         f"(exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads((ROOT / found[-1]).read_text())


def per_resource(report: dict) -> dict:
    """A run's µs per resource, in all and per step, and of the maintenance it leaves (what
    autovacuum, paused during the run, would do after it; None when it was left running)."""
    run = report["run"]
    resources = run["counts"]["resources"]
    maintenance = report.get("maintenance")
    return {"total": run["seconds_total"] / resources * 1e6,
            "batches": batch_us_per_resource(run),
            "steps": {step: seconds / resources * 1e6
                      for step, seconds in run["seconds"].items()},
            "maintenance": (None if maintenance is None
                            else maintenance["seconds"] / resources * 1e6)}


def lower_quartile(values: list[float]) -> float:
    """The first quartile (the value itself for one)."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=4, method="inclusive")[0]


def summarise(runs_by_size: dict[int, list[dict]]) -> list[dict]:
    """Per size (ascending): every run's µs per resource, the best, median and mean, each
    step's best, the lower quartile and the median of the batches timed alone (None without
    any), the best of the maintenance the runs left (None if one left none measured), and the
    growth of each from the size before (None for the first), from the runs' `per_resource`
    figures."""
    rows = []
    for resources in sorted(runs_by_size):
        runs = runs_by_size[resources]
        totals = [run["total"] for run in runs]
        row = {"resources": resources, "runs": totals, "best": min(totals),
               "median": statistics.median(totals),
               "steps": {step: min(run["steps"][step] for run in runs)
                         for step in runs[0]["steps"]}}
        batches = [batch for run in runs for batch in run["batches"]]
        row["batches"] = len(batches)
        row["batch_median"] = statistics.median(batches) if batches else None
        row["batch_lower_quartile"] = lower_quartile(batches) if batches else None
        row["mean"] = statistics.mean(totals)
        maintenance = [run.get("maintenance") for run in runs]
        row["maintenance"] = None if None in maintenance else min(maintenance)
        before = rows[-1] if rows else None
        for name in ("best", "median", "mean", "batch_median", "batch_lower_quartile"):
            row[f"growth_{name}"] = (None if before is None or row[name] is None
                                     or before[name] is None else row[name] / before[name] - 1)
        rows.append(row)
    return rows


def markdown(rows: list[dict]) -> str:
    def growth(row):
        if row["growth_best"] is None:
            return "—"
        return ", ".join(f"{row[name] * 100:+.1f} %"
                         for name in ("growth_best", "growth_median", "growth_mean"))

    def batches(row):
        if row["batch_median"] is None:
            return "—"

        def figure(name):
            growth = row[f"growth_{name}"]
            return f"{row[name]:.2f}" + ("" if growth is None else f" ({growth * 100:+.1f} %)")
        return (f"{figure('batch_lower_quartile')}, {figure('batch_median')} "
                f"of {row['batches']}")

    steps = list(rows[0]["steps"])
    lines = ["| resources | runs (µs per resource) | best | median | mean | growth (best, "
             "median, mean) | batches timed alone: lower quartile, median (growth) of n | "
             + " | ".join(f"{step} (best)" for step in steps)
             + " | maintenance after the run (best) |",
             "|---:|---|---:|---:|---:|---|---|" + "---:|" * (len(steps) + 1)]
    for row in rows:
        lines.append(
            f"| {row['resources']:,} | {', '.join(f'{t:.2f}' for t in row['runs'])} | "
            f"{row['best']:.2f} | {row['median']:.2f} | {row['mean']:.2f} | "
            f"{growth(row)} | {batches(row)} | "
            + " | ".join(f"{row['steps'][step]:.2f}" for step in steps) + " | "
            + ("—" if row["maintenance"] is None else f"{row['maintenance']:.2f}") + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="credit resources per size, comma-separated (accounts: a tenth)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sizes = sorted({int(size) for size in args.sizes.split(",")})
    if not sizes or sizes[0] < 10 or args.rounds < 1:
        parser.error("sizes of at least 10 resources, at least one round")
    pg = bench_server()
    for resources in sizes:
        if not database_exists(pg, f"bench_scale_{resources}_seed"):
            log(f"making the seed of {resources:,} resources")
            bench_run(resources, "--save-seed")
    runs: dict[int, list[dict]] = {resources: [] for resources in sizes}
    for round_index in range(args.rounds):
        for resources in sizes:
            figures = per_resource(bench_run(resources, "--from-seed"))
            runs[resources].append(figures)
            log(f"round {round_index + 1}/{args.rounds}, {resources:,} resources: "
                f"{figures['total']:.2f} µs per resource")
    rows = summarise(runs)
    out = ROOT / "bench" / "results" / f"scaling-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rounds": args.rounds, "sizes": rows}, indent=2) + "\n")
    print("\n" + markdown(rows) + "\n")
    log(f"results: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
