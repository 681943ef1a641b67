from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "tenancy"

    def ready(self) -> None:
        # Register the state machines and the API key scheme in the OpenAPI schema.
        from tenancy import lifecycles, schema  # noqa: F401
