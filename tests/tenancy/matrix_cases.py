"""Permission-matrix expectations for the tenancy routes (and config's /me/). See matrix.py."""

import datetime
import itertools

from django.contrib.auth.tokens import default_token_generator
from django.core.files.base import ContentFile
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from tenancy.audit import audit_record
from tenancy.models import (
    ApiKey,
    AuditEntry,
    Enterprise,
    Invitation,
    Membership,
    Merchant,
    MerchantDocument,
    Store,
)
from tenancy.principals import Principal
from tenancy.services.api_keys import api_key_create
from tenancy.services.people import invitation_create
from tests.tenancy.factories import PASSWORD
from tests.tenancy.matrix import Case, codes

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
SYSTEM = Principal.system("matrix setup")
_serial = itertools.count(1)

ALL = codes(200, anonymous=403)
OPS = {"ops_admin": 200, "ops_reviewer": 200, "ops_support": 200}


def _set(obj, **values):
    type(obj).objects.filter(pk=obj.pk).update(**values)
    for name, value in values.items():
        setattr(obj, name, value)
    return obj


def enterprise_in(state, **extra):
    def target(world, tenant):
        _set(tenant.enterprise, state=state, **extra)
        return {"kwargs": {"pk": tenant.enterprise.pk}}

    return target


def merchant_in(state, body=None, licence=False):
    def target(world, tenant):
        _set(
            tenant.merchant,
            onboarding_state=state,
            sub_mch_id=None if state != "finished" else tenant.merchant.sub_mch_id,
        )
        if licence:
            _document(tenant)
        return {"kwargs": {"pk": tenant.merchant.pk}, "body": body(tenant) if body else {}}

    return target


def _document(tenant):
    document = MerchantDocument(
        enterprise=tenant.enterprise,
        merchant=tenant.merchant,
        kind="business_licence",
        content_type="image/png",
        size=len(PNG),
        sha256="0" * 64,
    )
    document.file.save(f"matrix-{next(_serial)}.png", ContentFile(PNG), save=False)
    document.save()
    return document


def document_target(editable=False):
    def target(world, tenant):
        if editable:
            _set(tenant.merchant, onboarding_state="editing", sub_mch_id=None)
        return {"kwargs": {"pk": _document(tenant).pk}}

    return target


def _invitation(tenant):
    invitation, _ = invitation_create(
        actor=SYSTEM,
        enterprise=tenant.enterprise,
        email=f"new{next(_serial)}@example.com",
        role="cashier",
        store=tenant.store,
    )
    return invitation


def _api_key(tenant):
    key, _ = api_key_create(actor=SYSTEM, merchant=tenant.merchant, name="matrix")
    return key


def _audit_entry(tenant):
    return audit_record(actor=SYSTEM, action="matrix.event", target=tenant.merchant)


def detail(obj_factory):
    def target(world, tenant):
        return {"kwargs": {"pk": obj_factory(tenant).pk}}

    return target


def body(make):
    def target(world, tenant):
        return {"body": make(world, tenant)}

    return target


def _accept_body(world, tenant):
    return {
        "token": invitation_create(
            actor=SYSTEM,
            enterprise=tenant.enterprise,
            email=f"accept{next(_serial)}@example.com",
            role="auditor",
        )[1],
        "username": f"newcomer{next(_serial)}",
        "password": "a long enough passphrase 42",
    }


def _reset_body(world, tenant):
    # Re-read: force_login() in earlier, rolled-back requests changed the cached last_login.
    user = type(tenant.admin).objects.get(pk=tenant.admin.pk)
    return {
        "uid": urlsafe_base64_encode(force_bytes(user.pk)),
        "token": default_token_generator.make_token(user),
        "new_password": "another long passphrase 42",
    }


TRIAL_TERMS = {
    "trial_starts_on": str(datetime.date(2030, 1, 1)),
    "trial_ends_on": str(datetime.date(2030, 6, 30)),
    "terminal_quota": 5,
}
REASONS = {"reasons": [{"field": "legal_rep_id_number", "reason": "Unreadable scan."}]}

# Who may see a row of a model reached only at the enterprise level.
ENTERPRISE_LEVEL_READ = codes(404, anonymous=403, **OPS, enterprise_admin=200, auditor=200)
# ... and of a model reached at the enterprise and merchant levels.
MERCHANT_LEVEL_READ = codes(
    404, anonymous=403, **OPS, enterprise_admin=200, auditor=200, merchant_manager=200, api_key=200
)
# Only ops admins change it; every other role that can see the row gets 403.
OPS_ADMIN_ONLY_ENTERPRISE = codes(403, anonymous=403, outsider=404, ops_admin=200)
OPS_REVIEW_ENTERPRISE = codes(403, outsider=404, ops_admin=200, ops_reviewer=200)
TENANT_ADMIN_ENTERPRISE = codes(403, outsider=404, ops_admin=200, enterprise_admin=200)
# Merchant rows: cashiers and outsiders cannot see them (404).
MERCHANT_MANAGERS = codes(
    403, outsider=404, cashier=404, ops_admin=200, enterprise_admin=200, merchant_manager=200
)
MERCHANT_OPS_REVIEW = codes(403, outsider=404, cashier=404, ops_admin=200, ops_reviewer=200)
# Creating under a merchant named in the body: invisible merchants are "does not exist" (400).
CREATE_UNDER_MERCHANT = codes(
    403, outsider=400, cashier=400, ops_admin=201, enterprise_admin=201, merchant_manager=201
)


def merchant_body(world, tenant):
    return {"name": "New merchant", "category": "retail", "enterprise": tenant.enterprise.pk}


def store_body(world, tenant):
    return {"name": "New store", "city": "Suzhou", "merchant": tenant.merchant.pk}


def document_body(world, tenant):
    _set(tenant.merchant, onboarding_state="editing", sub_mch_id=None)
    upload = ContentFile(PNG, name="licence.png")
    return {"merchant": tenant.merchant.pk, "kind": "business_licence", "file": upload}


CASES = [
    # config's own route
    Case("me", "get", codes(200, anonymous=403, api_key=403), foreign=None),
    # --- enterprises
    Case("enterprise-list", "get", ALL, model=Enterprise, foreign=None),
    Case(
        "enterprise-list",
        "post",
        codes(403, ops_admin=201),
        body(lambda w, t: {"legal_name": "X Co.", "display_name": "X", "admin_email": "x@x.cn"}),
        foreign=None,
    ),
    Case(
        "enterprise-detail",
        "get",
        codes(200, anonymous=403, outsider=404),
        detail(lambda t: t.enterprise),
    ),
    Case(
        "enterprise-detail",
        "patch",
        TENANT_ADMIN_ENTERPRISE,
        lambda w, t: {**enterprise_in("applying")(w, t), "body": {"address": "2 Huaihai Road"}},
    ),
    Case("enterprise-submit", "post", TENANT_ADMIN_ENTERPRISE, enterprise_in("applying")),
    Case(
        "enterprise-approve",
        "post",
        OPS_REVIEW_ENTERPRISE,
        lambda w, t: {**enterprise_in("under_review")(w, t), "body": TRIAL_TERMS},
    ),
    Case(
        "enterprise-reject",
        "post",
        OPS_REVIEW_ENTERPRISE,
        lambda w, t: {**enterprise_in("under_review")(w, t), "body": {"reasons": ["No licence"]}},
    ),
    Case("enterprise-revise", "post", TENANT_ADMIN_ENTERPRISE, enterprise_in("rejected")),
    Case("enterprise-convert", "post", OPS_ADMIN_ONLY_ENTERPRISE, enterprise_in("trial")),
    Case(
        "enterprise-suspend",
        "post",
        OPS_ADMIN_ONLY_ENTERPRISE,
        lambda w, t: {**enterprise_in("trial")(w, t), "body": {"reason": "unpaid"}},
    ),
    Case(
        "enterprise-reinstate",
        "post",
        OPS_ADMIN_ONLY_ENTERPRISE,
        enterprise_in("suspended", suspended_from="active"),
    ),
    Case(
        "enterprise-offboard",
        "post",
        OPS_ADMIN_ONLY_ENTERPRISE,
        lambda w, t: {**enterprise_in("active")(w, t), "body": {"reason": "contract ended"}},
    ),
    # --- merchants
    Case("merchant-list", "get", ALL, model=Merchant, foreign=None),
    Case(
        "merchant-list",
        "post",
        codes(403, outsider=400, ops_admin=201, enterprise_admin=201),
        body(merchant_body),
        foreign=400,
    ),
    Case(
        "merchant-detail",
        "get",
        MERCHANT_LEVEL_READ | {"cashier": 404},
        detail(lambda t: t.merchant),
    ),
    Case(
        "merchant-detail",
        "patch",
        MERCHANT_MANAGERS,
        merchant_in("editing", body=lambda t: {"contact_phone": "021-5555"}),
    ),
    Case("merchant-submit", "post", MERCHANT_MANAGERS, merchant_in("editing", licence=True)),
    Case(
        "merchant-request-changes",
        "post",
        MERCHANT_OPS_REVIEW,
        merchant_in("submitted", body=lambda t: REASONS),
    ),
    Case("merchant-start-audit", "post", MERCHANT_OPS_REVIEW, merchant_in("submitted")),
    Case(
        "merchant-reject",
        "post",
        MERCHANT_OPS_REVIEW,
        merchant_in("auditing", body=lambda t: REASONS),
    ),
    Case("merchant-revise", "post", MERCHANT_MANAGERS, merchant_in("rejected")),
    Case("merchant-approve", "post", MERCHANT_OPS_REVIEW, merchant_in("auditing")),
    Case("merchant-start-signing", "post", MERCHANT_OPS_REVIEW, merchant_in("approved")),
    Case(
        "merchant-finish",
        "post",
        MERCHANT_OPS_REVIEW,
        merchant_in("signing", body=lambda t: {"sub_mch_id": f"19990{t.merchant.pk:05d}"}),
    ),
    Case("merchant-cancel", "post", MERCHANT_MANAGERS, merchant_in("editing")),
    Case(
        "merchant-fee-rate",
        "post",
        codes(403, outsider=404, cashier=404, ops_admin=200),
        merchant_in("finished", body=lambda t: {"fee_rate_bps": 38}),
    ),
    # --- stores
    Case("store-list", "get", ALL, model=Store, foreign=None),
    Case("store-list", "post", CREATE_UNDER_MERCHANT, body(store_body), foreign=400),
    Case(
        "store-detail",
        "get",
        codes(200, anonymous=403, outsider=404),
        detail(lambda t: t.store),
    ),
    Case(
        "store-detail",
        "patch",
        codes(403, outsider=404, ops_admin=200, enterprise_admin=200, merchant_manager=200),
        lambda w, t: {"kwargs": {"pk": t.store.pk}, "body": {"status": "closed"}},
    ),
    # --- documents
    Case("document-list", "get", ALL, model=MerchantDocument, foreign=None),
    Case(
        "document-list",
        "post",
        CREATE_UNDER_MERCHANT,
        body(document_body),
        foreign=400,
        multipart=True,
    ),
    # API keys (merchant systems) never see KYC documents.
    Case("document-detail", "get", {**MERCHANT_LEVEL_READ, "api_key": 404}, document_target()),
    Case("document-download", "get", {**MERCHANT_LEVEL_READ, "api_key": 404}, document_target()),
    Case(
        "document-detail",
        "delete",
        {k: (204 if v == 200 else v) for k, v in MERCHANT_MANAGERS.items()} | {"api_key": 404},
        document_target(editable=True),
    ),
    # --- memberships
    Case("membership-list", "get", ALL, model=Membership, foreign=None),
    Case(
        "membership-detail",
        "get",
        ENTERPRISE_LEVEL_READ,
        detail(lambda t: Membership.objects.get(user=t.cashier)),
    ),
    Case(
        "membership-detail",
        "delete",
        codes(
            404,
            anonymous=403,
            ops_admin=204,
            ops_reviewer=403,
            ops_support=403,
            enterprise_admin=204,
            auditor=403,
        ),
        detail(lambda t: Membership.objects.get(user=t.cashier)),
    ),
    # --- invitations
    Case("invitation-list", "get", ALL, model=Invitation, foreign=None),
    Case(
        "invitation-list",
        "post",
        codes(403, outsider=400, ops_admin=201, enterprise_admin=201, merchant_manager=201),
        body(lambda w, t: {"email": "new@example.com", "role": "cashier", "store": t.store.pk}),
        foreign=400,
    ),
    Case("invitation-detail", "get", ENTERPRISE_LEVEL_READ, detail(_invitation)),
    Case(
        "invitation-revoke",
        "post",
        codes(
            404,
            anonymous=403,
            ops_admin=200,
            ops_reviewer=403,
            ops_support=403,
            enterprise_admin=200,
            auditor=403,
        ),
        detail(_invitation),
    ),
    Case("invitation-accept", "post", codes(201), body(_accept_body), foreign=None),
    # --- API keys
    Case("api-key-list", "get", ALL, model=ApiKey, foreign=None),
    Case(
        "api-key-list",
        "post",
        CREATE_UNDER_MERCHANT,
        body(lambda w, t: {"merchant": t.merchant.pk, "name": "POS"}),
        foreign=400,
    ),
    Case("api-key-detail", "get", MERCHANT_LEVEL_READ, detail(_api_key)),
    Case("api-key-revoke", "post", MERCHANT_MANAGERS, detail(_api_key)),
    # --- audit log
    Case("audit-entry-list", "get", ALL, model=AuditEntry, foreign=None),
    Case("audit-entry-detail", "get", ENTERPRISE_LEVEL_READ, detail(_audit_entry)),
    # --- accounts
    Case(
        "auth-login",
        "post",
        codes(200),
        body(lambda w, t: {"username": t.admin.username, "password": PASSWORD}),
        foreign=None,
    ),
    Case("auth-logout", "post", codes(204, anonymous=403, api_key=403), foreign=None),
    Case(
        "auth-password-reset",
        "post",
        codes(202),
        body(lambda w, t: {"email": t.admin.email}),
        foreign=None,
    ),
    Case("auth-password-reset-confirm", "post", codes(204), body(_reset_body), foreign=None),
]
