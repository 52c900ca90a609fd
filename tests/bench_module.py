"""The benchmark scripts of bench/, loaded as modules (bench/ is no package)."""
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def lifecycle_bench():
    spec = importlib.util.spec_from_file_location("lifecycle_bench",
                                                  ROOT / "bench" / "lifecycle_bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lifecycle_scaling():
    """bench/lifecycle_scaling.py, which imports bench/lifecycle_bench.py as its neighbour."""
    bench_dir = str(ROOT / "bench")
    sys.path.insert(0, bench_dir)
    try:
        spec = importlib.util.spec_from_file_location("lifecycle_scaling",
                                                      ROOT / "bench" / "lifecycle_scaling.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(bench_dir)
    return module
