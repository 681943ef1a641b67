from django.apps import AppConfig


class SandboxConfig(AppConfig):
    """The local stand-in for WeChat Pay: the v2 protocol on the provider's paths, with a ledger."""

    name = "payments.sandbox"
    label = "payments_sandbox"
    verbose_name = "WeChat Pay sandbox provider"

    def ready(self) -> None:
        # Register the Celery tasks: autodiscovery looks only at the top-level apps' modules.
        from payments.sandbox import tasks  # noqa: F401
