import datetime

import pytest
from django.utils import timezone

from tenancy.models import Invitation, Membership
from tenancy.principals import Principal
from tenancy.services.people import invitation_create

PASSWORD = "a long enough passphrase 42"


@pytest.fixture
def invite(world):
    def make(**kwargs):
        return invitation_create(
            actor=Principal.for_user(world.a.admin),
            enterprise=world.a.enterprise,
            email="new.cashier@example.com",
            role="cashier",
            store=world.a.store,
            **kwargs,
        )

    return make


def accept(api, token, username="newcashier"):
    body = {"token": token, "username": username, "password": PASSWORD}
    return api().post("/api/v1/invitations/accept/", body, format="json")


def test_invitation_is_accepted_once(world, api, invite):
    invitation, token = invite()
    assert len(invitation.token_hash) == 64 and token not in invitation.token_hash
    response = accept(api, token)
    assert response.status_code == 201
    membership = Membership.objects.get(user__username="newcashier")
    assert (membership.role, membership.store_id) == ("cashier", world.a.store.pk)
    again = accept(api, token, username="second")
    assert again.status_code == 400
    assert "token" in again.json()["error"]["fields"]
    assert not Membership.objects.filter(user__username="second").exists()


def test_expired_and_revoked_invitations_are_refused(world, api, invite):
    expired, expired_token = invite()
    Invitation.objects.filter(pk=expired.pk).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    assert accept(api, expired_token).status_code == 400
    revoked, revoked_token = invite()
    response = api(world.a.admin).post(f"/api/v1/invitations/{revoked.pk}/revoke/")
    assert response.json()["status"] == "revoked"
    assert accept(api, revoked_token).status_code == 400
    assert accept(api, "made-up-token").status_code == 400
    assert not Membership.objects.filter(user__username="newcashier").exists()


def test_weak_password_is_refused_and_nothing_is_created(world, api, invite):
    _, token = invite()
    body = {"token": token, "username": "weak", "password": "123"}
    response = api().post("/api/v1/invitations/accept/", body, format="json")
    assert response.status_code == 400
    assert "password" in response.json()["error"]["fields"]
    assert (
        Invitation.objects.get(token_hash__isnull=False, email="new.cashier@example.com").status
        == "pending"
    )


def test_merchant_manager_cannot_invite_an_enterprise_admin(world, api):
    body = {"email": "x@example.com", "role": "enterprise_admin"}
    response = api(world.a.manager).post("/api/v1/invitations/", body, format="json")
    # A manager administers no enterprise, so it is asked which one — then refused.
    assert response.status_code == 400
    body["enterprise"] = world.a.enterprise.pk
    response = api(world.a.manager).post("/api/v1/invitations/", body, format="json")
    assert response.status_code == 403
    assert not Invitation.objects.exists()


def test_role_and_target_must_agree(world, api):
    body = {"email": "x@example.com", "role": "cashier", "merchant": world.a.merchant.pk}
    response = api(world.a.admin).post("/api/v1/invitations/", body, format="json")
    assert response.status_code == 400
    assert "role" in response.json()["error"]["fields"]


def test_password_reset_round_trip(world, api, mailoutbox):
    client = api()
    assert client.post("/api/v1/auth/password-reset/", {"email": "nobody@x.cn"}).status_code == 202
    assert not mailoutbox
    client.post("/api/v1/auth/password-reset/", {"email": world.a.cashier.email})
    (message,) = mailoutbox
    uid = message.body.split("uid: ")[1].split()[0]
    token = message.body.split("token: ")[1].split()[0]
    body = {"uid": uid, "token": token, "new_password": PASSWORD}
    assert client.post("/api/v1/auth/password-reset/confirm/", body).status_code == 204
    # Single use: the token hashes the old password.
    assert client.post("/api/v1/auth/password-reset/confirm/", body).status_code == 400
    login = {"username": world.a.cashier.username, "password": PASSWORD}
    assert client.post("/api/v1/auth/login/", login).status_code == 200
