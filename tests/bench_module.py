"""The benchmark script bench/lifecycle_bench.py, loaded as a module (bench/ is no package)."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def lifecycle_bench():
    spec = importlib.util.spec_from_file_location("lifecycle_bench",
                                                  ROOT / "bench" / "lifecycle_bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
