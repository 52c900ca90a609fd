"""The lifecycle settings row: created from the Django settings' defaults when staff first open
its page (until then `lifecycle_settings_get` reads the same defaults without writing)."""
from __future__ import annotations

from django.db import IntegrityError, transaction

from ..models import LifecycleSettings
from ..selectors.lifecycle import lifecycle_settings_defaults


def lifecycle_settings_ensure() -> LifecycleSettings:
    """The single settings row, created from the defaults if it does not exist yet."""
    row = LifecycleSettings.objects.filter(pk=1).first()
    if row is not None:
        return row
    row = LifecycleSettings(pk=1, **lifecycle_settings_defaults())
    # Its first history row names no one: the values are the Django settings', not a person's.
    row._history_user = None
    row._change_reason = "Created from the Django settings' defaults."
    try:
        with transaction.atomic():  # a savepoint: a concurrent first use may win the insert
            row.save(force_insert=True)
    except IntegrityError:
        return LifecycleSettings.objects.get(pk=1)
    finally:
        del row._history_user, row._change_reason
    return row
