from django.apps import AppConfig


class CreditsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "credits"
    verbose_name = "Credits"

    def ready(self):
        from . import schema  # noqa: F401  (registers the OpenAPI authentication extensions)
