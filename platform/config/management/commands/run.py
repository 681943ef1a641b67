"""Run the whole platform from one command: services, migrations, demo data, web, worker, beat."""

import os
import sys
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from config import embedded
from config.demo import load_demo_world
from config.preflight import ServiceUnreachable, check_services, redact_url


def procfile_entries(path: Path) -> dict[str, str]:
    entries = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = command.strip()
    return entries


class Command(BaseCommand):
    help = (
        "Start (or connect) PostgreSQL and Redis, migrate, load the demo world, run every process."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--no-demo", action="store_true", help="do not load the demo world")
        parser.add_argument("--only", nargs="*", help="run only these Procfile processes")

    def handle(self, *args, host: str, port: int, no_demo: bool, only: list[str] | None, **options):
        try:
            check_services()
        except ServiceUnreachable as exc:
            raise CommandError(str(exc)) from None
        self._say_services()
        call_command("migrate", interactive=False, verbosity=0)
        logins = [] if no_demo else load_demo_world()
        self._say_urls(host, port, logins)
        returncode = self._supervise(host, port, only)
        self._stop_embedded()
        sys.exit(returncode)

    def _say_services(self) -> None:
        kind = {True: "embedded", False: "configured"}
        self.stdout.write(
            f"PostgreSQL ({kind[settings.EMBEDDED_DATABASE]}): {redact_url(settings.DATABASE_URL)}"
        )
        self.stdout.write(
            f"Redis ({kind[settings.EMBEDDED_REDIS]}): {redact_url(settings.REDIS_URL)}"
        )

    def _say_urls(self, host: str, port: int, logins) -> None:
        base = f"http://{host}:{port}"
        self.stdout.write(self.style.SUCCESS("\nShouyin is starting:"))
        for label, path in [
            ("dashboard", "/"),
            ("admin", "/admin/"),
            ("API docs", "/api/docs/"),
            ("readiness", "/readyz"),
        ]:
            self.stdout.write(f"  {label:<10} {base}{path}")
        if logins:
            self.stdout.write(self.style.SUCCESS("\nDemo logins (username / password / role):"))
            for username, password, role in logins:
                self.stdout.write(f"  {username:<24} {password:<22} {role}")
        self.stdout.write("\nPress Ctrl-C to stop everything.\n")
        self.stdout.flush()

    def _supervise(self, host: str, port: int, only: list[str] | None) -> int:
        from honcho.manager import Manager
        from honcho.printer import Printer

        env = {
            **os.environ,
            "DATABASE_URL": settings.DATABASE_URL,
            "REDIS_URL": settings.REDIS_URL,
            "HOST": host,
            "PORT": str(port),
            "PYTHONUNBUFFERED": "1",
            # One ASGI process per core (DESIGN.md "Scale-out"); set WEB_CONCURRENCY to change it.
            "WEB_CONCURRENCY": os.environ.get("WEB_CONCURRENCY", str(min(os.cpu_count() or 1, 4))),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        manager = Manager(Printer(sys.stdout))
        for name, command in procfile_entries(settings.BASE_DIR / "Procfile").items():
            if not only or name in only:
                manager.add_process(name, command, env=env, cwd=str(settings.BASE_DIR))
        manager.loop()
        return manager.returncode or 0

    def _stop_embedded(self) -> None:
        if settings.EMBEDDED_REDIS:
            embedded.stop_redis()
            self.stdout.write("embedded Redis stopped")
        if settings.EMBEDDED_DATABASE:
            embedded.stop_postgres()
            self.stdout.write("embedded PostgreSQL stopped")
