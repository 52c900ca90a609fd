from django.apps import AppConfig


class CreditsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "credits"
    verbose_name = "Credits"

    def ready(self):
        # schema registers the OpenAPI authentication extensions; siwe imports eth-account at
        # start-up and puts back the recursion limit that import raises.
        from . import schema, siwe  # noqa: F401

        # Connects the drop of the cached funding horizon to saves of the lifecycle settings in
        # every process (a worker or a shell saves them too, not only the web process).
        from .selectors import estimates  # noqa: F401
