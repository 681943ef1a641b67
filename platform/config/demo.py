"""The demo world that `make run` loads: idempotent, with every login printed."""

import json
import secrets
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.db import transaction

from config import embedded

DEMO_OPS_USERNAME = "ops"


class DemoLogin(NamedTuple):
    username: str
    password: str
    role: str


def demo_password(name: str) -> str:
    """Return the demo password for a login: made once per checkout and kept in var/."""
    path = embedded.var_dir() / "demo-passwords.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    if name not in known:
        known[name] = f"demo-{secrets.token_urlsafe(9)}"
        path.write_text(json.dumps(known, indent=2))
        path.chmod(0o600)
    return known[name]


def ensure_login(username: str, *, superuser: bool = False, email: str = "") -> str:
    """Create or repair a demo user so that its printed password works; return the password."""
    password = demo_password(username)
    user, _ = get_user_model().objects.get_or_create(username=username, defaults={"email": email})
    user.is_staff = user.is_staff or superuser
    user.is_superuser = user.is_superuser or superuser
    if not user.check_password(password):
        user.set_password(password)
    user.save()
    return password


@transaction.atomic
def load_demo_world() -> list[DemoLogin]:
    from payments.demo import load_payments_demo
    from tenancy.demo import load_tenancy_demo
    from terminals.demo import register_demo_terminals

    logins = [
        DemoLogin(DEMO_OPS_USERNAME, ensure_login(DEMO_OPS_USERNAME, superuser=True), "ops admin"),
        *load_tenancy_demo(),
    ]
    # A production batch in stock; the simulator (Procfile) assigns, activates and runs some.
    register_demo_terminals(24)
    load_payments_demo()  # a day of payments on a few demo terminals of finished merchants
    return logins
