import pytest
from django.contrib.auth import authenticate, get_user_model

from config.demo import DEMO_OPS_USERNAME, load_demo_world


@pytest.mark.django_db
def test_demo_world_is_idempotent_and_its_printed_logins_work(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOUYIN_VAR_DIR", str(tmp_path))
    first = load_demo_world()
    second = load_demo_world()

    assert first == second
    ops = next(login for login in first if login.username == DEMO_OPS_USERNAME)
    assert authenticate(username=ops.username, password=ops.password).is_superuser
    assert get_user_model().objects.filter(username=DEMO_OPS_USERNAME).count() == 1
