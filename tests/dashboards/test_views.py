import pytest

pytestmark = pytest.mark.django_db


def test_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.url.startswith("/login/")


def test_dashboard_names_what_the_person_sees(client, world):
    client.force_login(world.a.cashier)
    page = client.get("/").content.decode()
    assert f"store {world.a.store.name}" in page
    assert world.b.store.name not in page


def test_ops_see_every_tenant(client, world):
    client.force_login(world.ops["ops_admin"])
    assert "every tenant (ops)" in client.get("/").content.decode()
