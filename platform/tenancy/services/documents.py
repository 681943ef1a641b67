"""KYC documents: checked by content, stored under generated names, never served unscoped."""

import hashlib
import re
import uuid

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from rest_framework.exceptions import ValidationError

from tenancy.audit import audit_record
from tenancy.lifecycles import EDITABLE_ONBOARDING_STATES
from tenancy.models import Merchant, MerchantDocument
from tenancy.principals import Principal
from tenancy.services.guards import require, require_merchant_manager

# Magic bytes → (content type, extension). The client's content type and name are not trusted.
SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"%PDF-", "application/pdf", "pdf"),
)
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")


def sniff(head: bytes) -> tuple[str, str] | None:
    """Return (content type, extension) for a PNG, JPEG or PDF header; None otherwise."""
    for magic, content_type, extension in SIGNATURES:
        if head.startswith(magic):
            return content_type, extension
    return None


def display_name(name: str) -> str:
    """Keep a harmless version of the client's file name for display only (never as a path)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return _UNSAFE_NAME.sub("_", base).strip(". ")[:120] or "upload"


@transaction.atomic
def document_upload(
    *, actor: Principal, merchant: Merchant, kind: str, upload: UploadedFile
) -> MerchantDocument:
    """Store a PNG, JPEG or PDF up to DOCUMENT_MAX_BYTES for a merchant whose application is
    still editable; reject anything else with a 400 and store nothing."""
    require_merchant_manager(actor, enterprise_id=merchant.enterprise_id, merchant_id=merchant.pk)
    require(
        merchant.onboarding_state in EDITABLE_ONBOARDING_STATES,
        "Documents can be changed only while the application is being edited.",
    )
    limit = settings.DOCUMENT_MAX_BYTES
    if upload.size is None or upload.size > limit:
        raise ValidationError({"file": [f"Files may be at most {limit // (1024 * 1024)} MB."]})
    upload.seek(0)
    head = upload.read(16)
    detected = sniff(head)
    if detected is None:
        raise ValidationError({"file": ["Only PNG, JPEG and PDF files are accepted."]})
    content_type, extension = detected
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    client_name = upload.name or ""
    upload.name = f"{uuid.uuid4().hex}.{extension}"
    document = MerchantDocument(
        enterprise_id=merchant.enterprise_id,
        merchant=merchant,
        kind=kind,
        content_type=content_type,
        size=upload.size,
        sha256=digest.hexdigest(),
        original_name=display_name(client_name),
        uploaded_by_id=actor.user_id,
    )
    document.file.save(upload.name, upload, save=False)
    try:
        document.save()
    except Exception:
        document.file.storage.delete(document.file.name)
        raise
    audit_record(
        actor=actor,
        action="document.upload",
        target=document,
        changes={"kind": [None, kind], "sha256": [None, document.sha256]},
        metadata={"size": document.size, "content_type": content_type},
    )
    return document


@transaction.atomic
def document_delete(*, actor: Principal, document: MerchantDocument) -> None:
    merchant = document.merchant
    require_merchant_manager(actor, enterprise_id=merchant.enterprise_id, merchant_id=merchant.pk)
    require(
        merchant.onboarding_state in EDITABLE_ONBOARDING_STATES,
        "Documents can be changed only while the application is being edited.",
    )
    audit_record(
        actor=actor,
        action="document.delete",
        target=document,
        changes={"kind": [document.kind, None], "sha256": [document.sha256, None]},
    )
    storage, name = document.file.storage, document.file.name
    document.delete()
    transaction.on_commit(lambda: storage.delete(name))
