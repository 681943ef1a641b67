"""The dashboard in a real browser, served by a real ASGI server, updated over its websocket."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def publish(group: str, message: dict) -> None:
    """Send to a channel-layer group from a thread of its own (Playwright's loop owns this one)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(async_to_sync(get_channel_layer().group_send), group, message).result()


def sign_in(page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_wrong_password_shows_an_error_and_stays_on_the_login_page(page, asgi_server, world):
    sign_in(page, asgi_server, world.a.admin.username, "not-the-password")
    assert "didn't match" in page.inner_text("form.login")


def test_live_event_for_the_enterprise_appears_on_its_admins_dashboard(page, asgi_server, world):
    sign_in(page, asgi_server, world.a.admin.username, world.password)
    page.wait_for_selector("#live-status[data-state=live]")

    publish(
        f"enterprise.{world.a.enterprise.pk}",
        {"type": "presence.changed", "terminal_id": 42, "presence": "online"},
    )

    row = page.wait_for_selector("tr.event[data-type='presence.changed']")
    assert "terminal_id=42" in row.inner_text()
    page.screenshot(path="var/test-logs/dashboard.png")


def test_other_tenants_events_never_reach_the_page(page, asgi_server, world):
    sign_in(page, asgi_server, world.b.admin.username, world.password)
    page.wait_for_selector("#live-status[data-state=live]")

    publish(f"enterprise.{world.a.enterprise.pk}", {"type": "presence.changed", "terminal_id": 1})
    publish(f"enterprise.{world.b.enterprise.pk}", {"type": "marker", "note": "after"})

    page.wait_for_selector("tr.event[data-type='marker']")
    assert page.query_selector("tr.event[data-type='presence.changed']") is None
