"""The tenancy part of the demo world (`make run`): idempotent, built through the services.

Two trial enterprises: "Jiangnan Fresh" is under review; "Huadong Convenience" is in its trial
with a terminal quota, with merchants in different onboarding states and stores in Shanghai and
Hangzhou. One login per role. Running it again changes nothing but repairs the demo logins.
"""

import datetime

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.utils import timezone

from tenancy.models import (
    Enterprise,
    Membership,
    Merchant,
    OpsRole,
    StaffProfile,
    Store,
)
from tenancy.principals import Principal
from tenancy.services import documents, enterprises, merchants, stores
from tenancy.statemachine import move
from tenancy.validators import credit_code_check_char

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
# Sub-merchant ids the sandbox provider knows (SANDBOX_WECHATPAY_SUB_MCH_IDS).
SANDBOX_SUB_MCH_IDS = ("1900000109", "1900000110")

SYSTEM = Principal.system("demo world")


def _login(username: str, role: str, **grant):
    from config.demo import DemoLogin, ensure_login

    password = ensure_login(username, email=f"{username}@demo.shouyin.invalid")
    user = get_user_model().objects.get(username=username)
    if role in OpsRole.values:
        StaffProfile.objects.update_or_create(user=user, defaults={"role": role})
        if not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
    else:
        Membership.objects.get_or_create(user=user, role=role, **grant)
    return DemoLogin(username, password, role.replace("_", " "))


def _enterprise(credit_code: str, legal_name: str, display_name: str) -> tuple[Enterprise, bool]:
    existing = Enterprise.objects.filter(credit_code=credit_code).first()
    if existing:
        return existing, False
    enterprise = Enterprise.objects.create(
        legal_name=legal_name,
        display_name=display_name,
        credit_code=credit_code,
        contact_name="Demo Contact",
        contact_email=f"contact@{display_name.split()[0].lower()}.demo.shouyin.invalid",
        contact_phone="021-60000000",
        address="Shanghai",
    )
    move(enterprise, action="begin", actor=SYSTEM, reason="demo")
    enterprises.enterprise_submit(actor=SYSTEM, enterprise=enterprise)
    return enterprise, True


def _merchant(enterprise: Enterprise, name: str, *, steps: list[str], sub_mch_id: str = ""):
    merchant = merchants.merchant_create(
        actor=SYSTEM,
        enterprise=enterprise,
        data={
            "name": name,
            "category": "supermarket",
            "settlement_bank_name": "Bank of Shanghai",
            "settlement_account_name": name,
            "settlement_account_number": "6222020200112345678",
            "legal_rep_name": "Demo Legal Rep",
            "legal_rep_id_number": "110101199003071234",
        },
    )
    if steps:
        documents.document_upload(
            actor=SYSTEM,
            merchant=merchant,
            kind="business_licence",
            upload=ContentFile(PNG, name="licence.png"),
        )
    reasons = [{"field": "legal_rep_id_number", "reason": "The ID scan is blurred."}]
    calls = {
        "submit": lambda: merchants.merchant_submit(actor=SYSTEM, merchant=merchant),
        "start_audit": lambda: merchants.merchant_start_audit(actor=SYSTEM, merchant=merchant),
        "reject": lambda: merchants.merchant_reject(
            actor=SYSTEM, merchant=merchant, reasons=reasons
        ),
        "approve": lambda: merchants.merchant_approve(actor=SYSTEM, merchant=merchant),
        "start_signing": lambda: merchants.merchant_start_signing(actor=SYSTEM, merchant=merchant),
        "finish": lambda: merchants.merchant_finish(
            actor=SYSTEM, merchant=merchant, sub_mch_id=sub_mch_id
        ),
    }
    for step in steps:
        calls[step]()
    return merchant


def _store(merchant: Merchant, name: str, city: str, lat: str, lng: str) -> Store:
    return stores.store_create(
        actor=SYSTEM,
        merchant=merchant,
        data={"name": name, "city": city, "address": f"{name}, {city}", "latitude": lat,
              "longitude": lng},
    )  # fmt: skip


FULL = ["submit", "start_audit", "approve", "start_signing", "finish"]


def _build_review_enterprise() -> Enterprise:
    enterprise, created = _enterprise(
        _with_check("91310000MA1FL0000"), "Jiangnan Fresh Markets Co., Ltd.", "Jiangnan Fresh"
    )
    if created:
        merchant = _merchant(enterprise, "Jiangnan Fresh Xuhui", steps=[])
        _store(merchant, "Xujiahui Market", "Shanghai", "31.195000", "121.437000")
        _merchant(enterprise, "Jiangnan Fresh Binjiang", steps=["submit"])
    return enterprise


def _build_trial_enterprise() -> Enterprise:
    enterprise, created = _enterprise(
        _with_check("91330100MA2H0000X"),
        "Huadong Convenience Stores Co., Ltd.",
        "Huadong Convenience",
    )
    if created:
        today = timezone.localdate()
        enterprises.enterprise_approve(
            actor=SYSTEM,
            enterprise=enterprise,
            trial_starts_on=today,
            trial_ends_on=today + datetime.timedelta(days=90),
            terminal_quota=20,
            reason="demo trial",
        )
        city_stores = _merchant(
            enterprise, "Huadong City", steps=FULL, sub_mch_id=SANDBOX_SUB_MCH_IDS[0]
        )
        _store(city_stores, "People's Square", "Shanghai", "31.232000", "121.475000")
        _store(city_stores, "Lujiazui", "Shanghai", "31.238000", "121.501000")
        lake = _merchant(
            enterprise, "Huadong West Lake", steps=FULL, sub_mch_id=SANDBOX_SUB_MCH_IDS[1]
        )
        _store(lake, "Hubin Road", "Hangzhou", "30.257000", "120.163000")
        _merchant(enterprise, "Huadong Campus", steps=["submit", "start_audit"])
        _merchant(enterprise, "Huadong Airport", steps=["submit", "start_audit", "reject"])
    return enterprise


def _with_check(first17: str) -> str:
    return first17 + credit_code_check_char(first17)


def load_tenancy_demo():
    """Create (once) the demo enterprises and return one DemoLogin per role."""
    review = _build_review_enterprise()
    trial = _build_trial_enterprise()
    merchant = Merchant.objects.get(enterprise=trial, name="Huadong City")
    store = Store.objects.get(merchant=merchant, name="People's Square")
    return [
        _login("ops.reviewer", OpsRole.OPS_REVIEWER),
        _login("ops.support", OpsRole.OPS_SUPPORT),
        _login("huadong.admin", "enterprise_admin", enterprise=trial),
        _login("huadong.manager", "merchant_manager", enterprise=trial, merchant=merchant),
        _login("huadong.cashier", "cashier", enterprise=trial, store=store),
        _login("huadong.auditor", "auditor", enterprise=trial),
        _login("jiangnan.admin", "enterprise_admin", enterprise=review),
    ]
