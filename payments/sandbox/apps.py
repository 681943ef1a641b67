from django.apps import AppConfig


class SandboxConfig(AppConfig):
    """The local stand-in for WeChat Pay: the v2 protocol on the provider's paths, with a ledger."""

    name = "payments.sandbox"
    label = "payments_sandbox"
    verbose_name = "WeChat Pay sandbox provider"
