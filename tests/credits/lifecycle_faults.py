"""Faults injected into a lifecycle run's batches: the run's batch function (`batch_run`)
wrapped for the length of a block, so that `hook(index)` is called before each batch; what it
raises fails that batch as a crash in it would (an `Exception` is the batch's error, anything
else stops the run)."""
import threading
from contextlib import contextmanager

import pytest

from credits.services.lifecycle import run as lifecycle_run_module


@contextmanager
def batches_hooked(hook, *, this_thread_only: bool = False):
    """Call `hook(batch_index)` before each batch of the runs in the block (with
    `this_thread_only`, of the runs in the thread that entered it; the others run as usual)."""
    batch_run = lifecycle_run_module.batch_run
    thread = threading.get_ident()

    def hooked(batch, **kwargs):
        if not this_thread_only or threading.get_ident() == thread:
            hook(batch.index)
        return batch_run(batch, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lifecycle_run_module, "batch_run", hooked)
        yield
