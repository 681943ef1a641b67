from django.core.management.base import BaseCommand

from config.demo import load_demo_world


class Command(BaseCommand):
    help = "Load the demo world (idempotent) and print its logins."

    def handle(self, *args, **options) -> None:
        for login in load_demo_world():
            self.stdout.write(f"{login.username:<24} {login.password:<22} {login.role}")
