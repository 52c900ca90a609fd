"""Reading the lifecycle: its settings, runs and the resources pending deletion."""
from django.conf import settings

from ..models import LifecycleSettings


def lifecycle_settings_defaults() -> dict:
    return {"grace_hours": settings.LIFECYCLE_GRACE_HOURS,
            "metering_enabled": settings.LIFECYCLE_METERING_ENABLED,
            "funding_horizon_hours": settings.LIFECYCLE_FUNDING_HORIZON_HOURS}


def lifecycle_settings_get() -> LifecycleSettings:
    """The live settings (the single row, created from Django settings on first use)."""
    row, _ = LifecycleSettings.objects.get_or_create(pk=1,
                                                     defaults=lifecycle_settings_defaults())
    return row
