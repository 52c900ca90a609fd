"""The benchmark scripts of bench/, loaded as modules (bench/ is no package)."""
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    """bench/<name>.py as a module; bench/ is on the import path while it loads, as when it
    runs as a script (the scaling bench imports its neighbour lifecycle_bench)."""
    bench_dir = str(ROOT / "bench")
    sys.path.insert(0, bench_dir)
    try:
        spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(bench_dir)
    return module


def lifecycle_bench():
    return _load("lifecycle_bench")


def lifecycle_scaling():
    return _load("lifecycle_scaling")
