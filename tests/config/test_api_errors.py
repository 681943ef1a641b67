import pytest
from rest_framework.exceptions import ValidationError

from config.api_errors import Conflict, api_exception_handler
from config.request_id import set_request_id


def test_validation_errors_list_every_field():
    set_request_id("req-validation-1")
    response = api_exception_handler(ValidationError({"amount": ["Must be positive."]}), {})
    assert response.status_code == 400
    assert response.data == {
        "error": {
            "code": "validation_error",
            "message": "The request has invalid fields.",
            "fields": {"amount": ["Must be positive."]},
            "request_id": "req-validation-1",
        }
    }


def test_domain_conflict_carries_its_detail():
    error = Conflict(
        "Enterprise is suspended.", code="illegal_transition", detail={"state": "suspended"}
    )
    response = api_exception_handler(error, {})
    assert response.status_code == 409
    assert response.data["error"]["code"] == "illegal_transition"
    assert response.data["error"]["state"] == "suspended"


def test_unauthenticated_api_request_gets_the_json_error_format(client):
    response = client.get("/api/v1/me/")
    assert response.status_code in (401, 403)
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response.headers["X-Request-ID"] == response.json()["error"]["request_id"]


@pytest.mark.django_db
def test_unknown_api_path_answers_json_404(client):
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_well_formed_request_id_is_echoed_and_a_bad_one_replaced(client):
    assert (
        client.get("/healthz", HTTP_X_REQUEST_ID="till-0042-abcdef").headers["X-Request-ID"]
        == "till-0042-abcdef"
    )
    replaced = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline").headers[
        "X-Request-ID"
    ]
    assert len(replaced) == 32


@pytest.mark.django_db
def test_schema_and_swagger_ui_are_served_without_a_cdn(client):
    assert client.get("/api/schema/").status_code == 200
    page = client.get("/api/docs/").content.decode()
    assert "cdn" not in page.lower()
    assert "/static/drf_spectacular_sidecar/" in page


@pytest.mark.django_db
def test_openapi_schema_generates_without_warnings():
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
