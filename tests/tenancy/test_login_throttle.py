import redis
from django.conf import settings

from tests.tenancy.factories import PASSWORD


def attempt(api, username, password, address="10.9.8.7"):
    client = api()
    body = {"username": username, "password": password}
    return client.post("/api/v1/auth/login/", body, format="json", REMOTE_ADDR=address)


def test_brute_force_is_throttled_in_redis_and_the_right_password_does_not_pass(world, api):
    user = world.a.cashier
    for _ in range(5):
        assert attempt(api, user.username, "guess").status_code == 400
    response = attempt(api, user.username, PASSWORD)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert "_auth_user_id" not in api().session
    keys = redis.Redis.from_url(settings.REDIS_URL).keys("*throttle_login*")
    assert keys, "the throttle counts in the shared Redis cache"


def test_throttle_by_username_holds_across_addresses(world, api):
    user = world.a.cashier
    for n in range(5):
        attempt(api, user.username, "guess", address=f"10.0.0.{n}")
    assert attempt(api, user.username, PASSWORD, address="10.0.0.99").status_code == 429
    # Another user from a fresh address is not affected.
    assert attempt(api, world.a.admin.username, PASSWORD, address="10.0.1.1").status_code == 200


def test_successful_login_starts_a_session_and_is_audited(world, api):
    from tenancy.models import AuditEntry

    client = api()
    body = {"username": world.a.admin.username, "password": PASSWORD}
    assert client.post("/api/v1/auth/login/", body, format="json").status_code == 200
    assert client.get("/api/v1/me/").json()["username"] == world.a.admin.username
    assert AuditEntry.objects.filter(action="user.login", actor_user=world.a.admin).exists()


def test_login_hands_out_the_csrf_cookie_that_session_writes_need(world):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    body = {"username": world.a.admin.username, "password": PASSWORD}
    response = client.post("/api/v1/auth/login/", body, format="json")
    token = response.cookies["csrftoken"].value
    assert client.post("/api/v1/auth/logout/").status_code == 403
    assert client.post("/api/v1/auth/logout/", HTTP_X_CSRFTOKEN=token).status_code == 204


def test_failed_logins_are_audited_without_the_password(world, api):
    from tenancy.models import AuditEntry

    attempt(api, world.a.cashier.username, "hunter2-guess")
    entry = AuditEntry.objects.get(action="user.login_failed")
    assert world.a.cashier.username in entry.actor_label
    assert entry.actor_user_id is None
    assert "hunter2-guess" not in str(entry.metadata) + entry.actor_label
