from django.apps import AppConfig


class CreditsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "credits"
    verbose_name = "Credits"

    def ready(self):
        from . import schema  # noqa: F401  (registers the OpenAPI authentication extensions)

        # Connects the drop of the cached funding horizon to saves of the lifecycle settings in
        # every process (a worker or a shell saves them too, not only the web process).
        from .selectors import estimates  # noqa: F401
