"""In-process microbenchmark of the cost engine: `compute_costs` on already parsed content, and
`parse_content` on its own, timed with timeit (best of several repeats).

Run from the repository root: .venv/bin/python bench/costs.py [--repeat 7] [--min-time 0.2]
Prints a markdown table with the machine it ran on; no database, no Django setup needed.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import timeit
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pricing.aggregate import table_from_aggregate  # noqa: E402
from pricing.content import parse_content  # noqa: E402
from pricing.costs import compute_costs  # noqa: E402
from pricing.defaults import DEFAULT_COMPATIBLE_GPUS, DEFAULT_PRICE_AGGREGATE  # noqa: E402
from tests.pricing.contents import (  # noqa: E402
    STORE_REF,
    ephemeral_volume,
    gpu,
    immutable_volume,
    instance_content,
    persistent_volume,
    program_content,
    store_content,
)

TABLE = table_from_aggregate(DEFAULT_PRICE_AGGREGATE, DEFAULT_COMPATIBLE_GPUS, version_id=1)

# (label, message type, content, ref sizes, target in µs for compute_costs or None)
CASES = [
    ("instance, basic (E1)", "INSTANCE", instance_content(), None, 30),
    ("program on demand, 5 volumes (E6)", "PROGRAM", program_content(
        internet=True, code_size_mib=2048, runtime_size_mib=1024, data_size_mib=2048,
        volumes=[immutable_volume(estimated_size_mib=512, mount="/opt/venv"),
                 persistent_volume(1024, mount="/var/cache")]), None, 75),
    ("instance, credit, 4 volumes", "INSTANCE", instance_content(
        payment="credit", volumes=[persistent_volume(1, mount="/data"), ephemeral_volume(5),
                                   persistent_volume(2000), immutable_volume(mount="/models")]),
     {STORE_REF: Decimal(300)}, None),
    ("instance, GPU mixed premium + standard", "INSTANCE", instance_content(
        gpus=[gpu("10de:27b2"), gpu("10de:2330")], vcpus=32, memory=65536), None, None),
    ("store, credit", "STORE", store_content(size=1_572_864, payment="credit"), None, None),
]


def _best_microseconds(statement, repeat: int, min_time: float) -> float:
    timer = timeit.Timer(statement)
    number, _ = timer.autorange()
    # autorange aims at 0.2 s per run; scale to the requested run time
    number = max(1, int(number * min_time / 0.2))
    return min(timer.repeat(repeat=repeat, number=number)) / number * 1e6


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next(line.split(":", 1)[1].strip() for line in cpuinfo
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{cpu}, {os.cpu_count()} CPU, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()} ({platform.python_implementation()})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timeit repeats (best is kept)")
    parser.add_argument("--min-time", type=float, default=0.2, help="seconds per repeat")
    args = parser.parse_args()

    print(f"Machine: {_machine()}\n")
    print("| case | rows | compute_costs (µs) | target (µs) | parse_content (µs) |")
    print("|---|---:|---:|---:|---:|")
    missed = []
    for label, message_type, content, ref_sizes, target in CASES:
        parsed = parse_content(message_type, content, estimate=True)
        rows = len(compute_costs(parsed, TABLE, ref_sizes_mib=ref_sizes).rows)
        compute_us = _best_microseconds(
            lambda: compute_costs(parsed, TABLE, ref_sizes_mib=ref_sizes),
            args.repeat, args.min_time)
        parse_us = _best_microseconds(
            lambda: parse_content(message_type, content, estimate=True),
            args.repeat, args.min_time)
        verdict = "—"
        if target is not None:
            verdict = f"≤ {target} {'ok' if compute_us <= target else 'MISSED'}"
            if compute_us > target:
                missed.append(label)
        print(f"| {label} | {rows} | {compute_us:.1f} | {verdict} | {parse_us:.1f} |")
    print(f"\nBest of {args.repeat} repeats of about {args.min_time} s each; compute_costs is "
          "timed on content already parsed.")
    if missed:
        print(f"Targets missed: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
