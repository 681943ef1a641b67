from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"

    def ready(self) -> None:
        from payments.handlers import on_scan
        from terminals.protocol import register_handler

        register_handler("scan", on_scan)
