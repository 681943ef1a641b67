def test_schema_documents_the_tenancy_api_and_the_api_key_header(db, client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    for path in ("/api/v1/merchants/{id}/approve/", "/api/v1/enterprises/{id}/approve/",
                 "/api/v1/documents/{id}/download/", "/api/v1/invitations/accept/"):  # fmt: skip
        assert path in schema["paths"], path
    scheme = schema["components"]["securitySchemes"]["ApiKey"]
    assert (scheme["in"], scheme["name"]) == ("header", "Authorization")
    approve = schema["paths"]["/api/v1/enterprises/{id}/approve/"]["post"]
    assert "409" in approve["responses"]
