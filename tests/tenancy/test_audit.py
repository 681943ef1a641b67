from config.request_id import set_request_id
from tenancy.audit import REDACTED, audit_record
from tenancy.principals import Principal


def test_audit_records_actor_target_changes_and_request_id(world):
    set_request_id("req-12345678")
    actor = Principal.for_user(world.a.admin)
    entry = audit_record(
        actor=actor,
        action="merchant.update",
        target=world.a.merchant,
        changes={"name": ["Old", "New"]},
        reason="rename",
    )
    assert entry.actor_kind == "user"
    assert entry.actor_user_id == world.a.admin.pk
    assert entry.enterprise_id == world.a.enterprise.pk
    assert (entry.target_type, entry.target_id) == ("tenancy.merchant", str(world.a.merchant.pk))
    assert entry.changes == {"name": ["Old", "New"]}
    assert entry.request_id == "req-12345678"


def test_audit_redacts_secrets_and_masks_encrypted_fields(world):
    entry = audit_record(
        actor=Principal.system("test"),
        action="merchant.update",
        target=world.a.merchant,
        changes={
            "settlement_account_number": ["6222020200112345678", "6222020200187654321"],
            "password": ["a", "b"],
            "secret_hash": ["x", "y"],
        },
        metadata={"token": "abc", "note": "kept"},
    )
    assert entry.changes["settlement_account_number"] == [
        "***************5678",
        "***************4321",
    ]
    assert entry.changes["password"] == REDACTED
    assert entry.changes["secret_hash"] == REDACTED
    assert entry.metadata == {"token": REDACTED, "note": "kept"}


def test_system_actor_has_no_enterprise_unless_the_target_has_one(world):
    entry = audit_record(actor=Principal.system("nightly"), action="sweep.ran")
    assert entry.enterprise_id is None
    assert entry.actor_kind == "system"
    assert entry.actor_label == "system: nightly"
