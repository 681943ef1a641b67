"""Uploads: validated by content, stored under generated names, served only to who may see them."""

import hashlib
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from tenancy.models import Merchant, MerchantDocument

PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 200
JPEG = b"\xff\xd8\xff\xe0" + b"\x02" * 200
PDF = b"%PDF-1.7\n" + b"\x03" * 200


@pytest.fixture
def editing(world):
    Merchant.objects.filter(pk=world.a.merchant.pk).update(
        onboarding_state="editing", sub_mch_id=None
    )
    return world.a.merchant


def upload(client, merchant, name, content, content_type="application/octet-stream"):
    file = SimpleUploadedFile(name, content, content_type=content_type)
    body = {"merchant": merchant.pk, "kind": "business_licence", "file": file}
    return client.post("/api/v1/documents/", body, format="multipart")


def stored_files() -> list[Path]:
    return [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]


@pytest.mark.parametrize(
    ("content", "content_type", "extension"),
    [(PNG, "image/png", "png"), (JPEG, "image/jpeg", "jpg"), (PDF, "application/pdf", "pdf")],
)
def test_png_jpeg_and_pdf_are_accepted_by_content(
    world, api, editing, content, content_type, extension
):
    # The client's name and type are wrong on purpose: the bytes decide.
    response = upload(api(world.a.manager), editing, "scan.txt", content, "text/plain")
    assert response.status_code == 201, response.data
    document = MerchantDocument.objects.get(pk=response.json()["id"])
    assert document.content_type == content_type
    assert document.file.name.endswith(f".{extension}")
    assert document.sha256 == hashlib.sha256(content).hexdigest()


def test_wrong_content_is_refused_and_nothing_is_stored(world, api, editing):
    fake = b"<?php system($_GET['c']); ?>"
    response = upload(api(world.a.manager), editing, "licence.png", fake, "image/png")
    assert response.status_code == 400
    assert "file" in response.json()["error"]["fields"]
    assert not MerchantDocument.objects.exists()
    assert stored_files() == []


def test_oversized_file_is_refused(world, api, editing, settings):
    settings.DOCUMENT_MAX_BYTES = 1024
    response = upload(api(world.a.manager), editing, "big.png", PNG + b"\x00" * 2048)
    assert response.status_code == 400
    assert "at most" in response.json()["error"]["fields"]["file"][0]
    assert stored_files() == []


def test_path_tricks_in_the_file_name_never_reach_the_file_system(world, api, editing):
    response = upload(api(world.a.manager), editing, "../../../etc/cron.d/x.png", PNG)
    assert response.status_code == 201
    document = MerchantDocument.objects.get()
    prefix = f"merchant-documents/{editing.enterprise_id}/{editing.pk}/"
    assert document.file.name.startswith(prefix)
    assert ".." not in document.file.name
    assert document.original_name == "x.png"
    (path,) = stored_files()
    assert Path(settings.MEDIA_ROOT).resolve() in path.resolve().parents


def test_download_is_served_to_allowed_principals_only(world, api, editing):
    created = upload(api(world.a.manager), editing, "licence.png", PNG).json()
    url = f"/api/v1/documents/{created['id']}/download/"
    response = api(world.a.auditor).get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PNG
    assert response["Content-Type"] == "image/png"
    assert "attachment" in response["Content-Disposition"]
    assert api(world.a.cashier).get(url).status_code == 404
    assert api(world.b.admin).get(url).status_code == 404
    assert api().get(url).status_code == 403


def test_documents_are_frozen_once_the_application_is_submitted(world, api):
    # world.a.merchant is finished: its application can no longer change.
    response = upload(api(world.a.admin), world.a.merchant, "licence.png", PNG)
    assert response.status_code == 403
    assert not MerchantDocument.objects.exists()
