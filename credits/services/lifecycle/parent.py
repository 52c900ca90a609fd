"""The parent run of a sharded run: its finished shards added up into it, and closed once every
shard has finished (or as failed, when the shards left will not run)."""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from ...events import lifecycle_run_finished
from ...models import LifecycleRun, LifecycleRunStatus


def lifecycle_run_summarise(*, parent_id: int, abandoned: str = "") -> LifecycleRun:
    """Add the parent's finished shards up into it; close it when every shard has finished, or
    as failed when it is `abandoned` (why: the shards not finished will not run).

    Safe when shards finish at once: each shard calls this after its own run is committed, so
    the last call sees them all, and the update is guarded (`WHERE finished_at IS NULL`), so a
    call that saw fewer shards never overwrites a closed parent.
    """
    shards = list(LifecycleRun.objects.filter(parent_id=parent_id, finished_at__isnull=False))
    values = {name: sum(getattr(shard, name) for shard in shards)
              for name in LifecycleRun.COUNT_FIELDS}
    messages = [f"shard {shard.shard_index}: {shard.error_messages}"
                for shard in sorted(shards, key=lambda shard: shard.shard_index)
                if shard.error_messages]
    parent = LifecycleRun.objects.get(pk=parent_id)
    finished = {shard.shard_index for shard in shards}
    if abandoned:
        never = [str(index) for index in range(parent.shard_count) if index not in finished]
        messages.append(f"shard{'s' * (len(never) > 1)} {', '.join(never)} never ran: "
                        f"{abandoned}" if never else abandoned)
        values["errors"] += 1
        values["finished_at"] = timezone.now()
        values["status"] = LifecycleRunStatus.FAILED
    elif len(finished) >= parent.shard_count:
        statuses = {shard.status for shard in shards}
        values["finished_at"] = max(shard.finished_at for shard in shards)
        values["status"] = (LifecycleRunStatus.FAILED if values["errors"]
                            else LifecycleRunStatus.SKIPPED
                            if statuses == {LifecycleRunStatus.SKIPPED}
                            else LifecycleRunStatus.SUCCEEDED)
    values["error_messages"] = "\n".join(messages)
    with transaction.atomic():
        closed = LifecycleRun.objects.filter(pk=parent_id, finished_at__isnull=True) \
            .update(**values)
        parent.refresh_from_db()
        if closed and parent.finished_at is not None:  # closed by this call: announced once
            lifecycle_run_finished(run=parent)
    return parent
