import pytest
from rest_framework.test import APIClient


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """Uploaded documents go to a per-test directory, not the checkout's var/media."""
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def api():
    """Return a function making an API client signed in as a user (or anonymous)."""

    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_login(user)
        return client

    return make


def forget_throttles() -> None:
    """Drop the throttle counters only: the same Redis database carries Celery and channels."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter(match="*throttle_*"):
        client.delete(key)


@pytest.fixture(autouse=True)
def _fresh_throttles():
    forget_throttles()
