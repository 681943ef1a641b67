from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "tenancy"

    def ready(self) -> None:
        # Register the state machines.
        from tenancy import lifecycles  # noqa: F401
