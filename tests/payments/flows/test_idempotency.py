"""Idempotency-Key: replay, conflict (422), in flight (409), and keys per principal."""

import uuid

import pytest

from payments.models import IdempotencyKey, Payment
from payments.services import idempotency
from tests.payments import helpers as codes

pytestmark = pytest.mark.slow


def create(api, shop, key, amount_fen=500, code=codes.PAID):
    body = {"terminal": shop.a.terminal.pk, "amount_fen": amount_fen, "auth_code": code}
    return api.post("/api/v1/payments/", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_the_same_key_and_body_replay_the_first_response(shop, merchant_api):
    key = str(uuid.uuid4())
    first = create(merchant_api, shop, key)
    again = create(merchant_api, shop, key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Payment.objects.count() == 1


def test_the_same_key_with_another_body_is_refused_with_422(shop, merchant_api):
    key = str(uuid.uuid4())
    assert create(merchant_api, shop, key).status_code == 201
    other = create(merchant_api, shop, key, amount_fen=501)
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert Payment.objects.count() == 1


def test_the_same_key_while_the_first_is_in_flight_is_refused_with_409(shop, merchant_api):
    key = str(uuid.uuid4())
    first = create(merchant_api, shop, key)  # replayable after this; now fake one in flight
    IdempotencyKey.objects.filter(key=key).update(response_status=None, response_body=None,
                                                  payment=None)  # fmt: skip
    in_flight = create(merchant_api, shop, key)
    assert first.status_code == 201
    assert in_flight.status_code == 409
    assert in_flight.json()["error"]["code"] == "idempotency_key_in_flight"


def test_a_request_that_failed_validation_releases_its_key(shop, merchant_api):
    key = str(uuid.uuid4())
    assert create(merchant_api, shop, key, code=codes.INVALID).status_code == 400
    assert create(merchant_api, shop, key).status_code == 201


def test_keys_of_two_principals_never_meet(shop, merchant_api, login):
    key = str(uuid.uuid4())
    assert create(merchant_api, shop, key).status_code == 201
    other = create(login(shop.a.cashier), shop, key, amount_fen=777)
    assert other.status_code == 201 and other.json()["amount_fen"] == 777


def test_a_lapsed_claim_answers_with_what_the_first_request_created(shop, merchant_api):
    key = str(uuid.uuid4())
    first = create(merchant_api, shop, key).json()
    # The first request's process died after creating the payment, before storing its answer.
    IdempotencyKey.objects.filter(key=key).update(
        response_status=None, response_body=None, locked_until="2000-01-01T00:00:00Z"
    )
    again = create(merchant_api, shop, key)
    assert again.status_code == 201 and again.json()["id"] == first["id"]
    assert Payment.objects.count() == 1


def test_fingerprints_are_keyed_digests_not_plain_hashes():
    import hashlib

    body = {"auth_code": codes.PAID}
    digest = idempotency.fingerprint("POST", "/api/v1/payments/", body)
    assert digest != hashlib.sha256(repr(body).encode()).hexdigest() and len(digest) == 64


def test_a_malformed_key_is_refused(shop, merchant_api):
    response = create(merchant_api, shop, "has space")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_idempotency_key"
