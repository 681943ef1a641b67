from django.apps import AppConfig


class ConfigConfig(AppConfig):
    """The project itself: health checks, diagnostic tasks and the runner command."""

    name = "config"
    verbose_name = "Platform"
