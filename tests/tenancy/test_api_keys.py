import datetime
import hashlib

from django.utils import timezone

from tenancy.models import ApiKey, AuditEntry


def create_key(api, user, merchant, **extra):
    body = {"merchant": merchant.pk, "name": "POS", **extra}
    return api(user).post("/api/v1/api-keys/", body, format="json")


def with_key(api, raw):
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def test_key_is_shown_once_and_stored_hashed(world, api):
    response = create_key(api, world.a.manager, world.a.merchant)
    assert response.status_code == 201
    body = response.json()
    raw = body["key"]
    key = ApiKey.objects.get(pk=body["id"])
    assert raw.startswith(f"sy_{key.prefix}.")
    secret = raw.split(".", 1)[1]
    assert key.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(list(ApiKey.objects.values().filter(pk=key.pk)))
    detail = api(world.a.manager).get(f"/api/v1/api-keys/{key.pk}/").json()
    assert "key" not in detail and detail["prefix"] == key.prefix
    entry = AuditEntry.objects.get(action="api_key.create")
    assert secret not in str(entry.changes)


def test_key_sees_one_merchant_and_records_its_use(world, api):
    raw = create_key(api, world.a.admin, world.a.merchant).json()["key"]
    client = with_key(api, raw)
    merchants = client.get("/api/v1/merchants/").json()["results"]
    assert [m["id"] for m in merchants] == [world.a.merchant.pk]
    assert client.get(f"/api/v1/merchants/{world.b.merchant.pk}/").status_code == 404
    assert ApiKey.objects.get().last_used_at is not None


def test_revoked_expired_and_malformed_keys_are_refused(world, api):
    raw = create_key(api, world.a.admin, world.a.merchant).json()["key"]
    key = ApiKey.objects.get()
    assert with_key(api, raw).get("/api/v1/stores/").status_code == 200
    revoke = api(world.a.manager).post(f"/api/v1/api-keys/{key.pk}/revoke/", format="json")
    assert revoke.json()["revoked_at"]
    response = with_key(api, raw).get("/api/v1/stores/")
    # 403, not 401: session authentication comes first and sends no WWW-Authenticate challenge.
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "authentication_failed"

    raw2 = create_key(api, world.a.admin, world.a.merchant).json()["key"]
    ApiKey.objects.filter(prefix=raw2[3:11]).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    assert with_key(api, raw2).get("/api/v1/stores/").status_code == 403
    for bad in ("sy_x", raw2[:-1] + "?", "nonsense", f"sy_{raw2[3:11]}.wrong"):
        response = with_key(api, bad).get("/api/v1/stores/")
        assert response.json()["error"]["code"] == "authentication_failed"


def test_a_key_for_a_foreign_merchant_cannot_be_created(world, api):
    response = create_key(api, world.a.admin, world.b.merchant)
    assert response.status_code == 400
    assert not ApiKey.objects.exists()
