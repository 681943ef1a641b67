"""Run the sandbox provider alone: the WeChat Pay v2 paths at http://HOST:PORT/."""

import uvicorn
from django.conf import settings
from django.core.asgi import get_asgi_application
from django.core.management.base import BaseCommand, CommandError

from payments.sandbox.asgi import SandboxApp


class Command(BaseCommand):
    help = (
        "Serve the WeChat Pay v2 sandbox provider at the root of HOST:PORT (see docs/sandbox.md)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8090", help="HOST:PORT to listen on")
        parser.add_argument(
            "--django",
            action="store_true",
            help="serve every call through the Django views (the benchmark's baseline)",
        )

    def handle(self, *args, addr: str, django: bool, **options) -> None:
        if not settings.SANDBOX_WECHATPAY_ENABLED:
            raise CommandError("The sandbox is disabled (SANDBOX_WECHATPAY_ENABLED=false).")
        host, _, port = addr.rpartition(":")
        if not host or not port.isdigit():
            raise CommandError(f"--addr must be HOST:PORT (got {addr!r})")
        # Django reads ROOT_URLCONF per request, so this serves the provider paths at the root.
        settings.ROOT_URLCONF = "payments.sandbox.standalone_urls"
        self.stdout.write(
            f"WeChat Pay sandbox on http://{addr}/ (mch_id {settings.SANDBOX_WECHATPAY_MCH_ID}, "
            f"appid {settings.SANDBOX_WECHATPAY_APPID})"
        )
        self.stdout.flush()
        views = get_asgi_application()
        uvicorn.run(
            views if django else SandboxApp(views, prefix="/"),
            host=host.strip("[]"),
            port=int(port),
            loop="uvloop",
            http="httptools",
            lifespan="off",
            access_log=False,
            log_level="warning",
        )
