import pytest
from django.db import IntegrityError, connection, transaction

from tenancy.audit import audit_record
from tenancy.models import AuditEntry, Membership, Store
from tenancy.principals import Principal
from tests.tenancy.factories import MerchantFactory


def test_store_under_a_merchant_of_another_enterprise_is_refused(world):
    with pytest.raises(IntegrityError), transaction.atomic():
        Store.objects.create(
            enterprise=world.a.enterprise, merchant=world.b.merchant, name="x", city="Shanghai"
        )


def test_membership_of_a_foreign_store_is_refused(world):
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(
            user=world.outsider, role="cashier", enterprise=world.a.enterprise, store=world.b.store
        )


def test_membership_role_must_match_its_target(world):
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(
            user=world.outsider, role="cashier", enterprise=world.a.enterprise
        )


def test_finished_merchant_needs_a_sub_mch_id(world):
    with pytest.raises(IntegrityError), transaction.atomic():
        MerchantFactory(enterprise=world.a.enterprise, sub_mch_id=None)


def test_bank_account_and_id_number_are_encrypted_at_rest(world):
    merchant = world.a.merchant
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT settlement_account_number, legal_rep_id_number FROM tenancy_merchant "
            "WHERE id = %s",
            [merchant.pk],
        )
        account, id_number = cursor.fetchone()
    assert "6222020200112345678" not in account
    assert "110101199003071234" not in id_number
    merchant.refresh_from_db()
    assert merchant.settlement_account_number == "6222020200112345678"
    assert merchant.settlement_account_masked == "***************5678"


def test_audit_rows_cannot_be_updated_or_deleted_even_in_sql(world):
    entry = audit_record(actor=Principal.system("test"), action="test.event")
    for sql in (
        "UPDATE tenancy_auditentry SET action = 'forged' WHERE id = %s",
        "DELETE FROM tenancy_auditentry WHERE id = %s",
    ):
        with (
            pytest.raises(Exception, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [entry.pk])
    with pytest.raises(RuntimeError):
        entry.save()
    assert AuditEntry.objects.get(pk=entry.pk).action == "test.event"


def test_a_row_cannot_move_to_another_enterprise(world):
    with pytest.raises(Exception, match="enterprise_id cannot change"), transaction.atomic():
        Store.objects.filter(pk=world.a.store.pk).update(enterprise=world.b.enterprise)
    assert Store.objects.get(pk=world.a.store.pk).enterprise_id == world.a.enterprise.pk


def test_invitation_role_must_match_its_target(world):
    from tenancy.models import Invitation

    with pytest.raises(IntegrityError), transaction.atomic():
        Invitation.objects.create(
            enterprise=world.a.enterprise, email="x@x.cn", role="cashier", token_hash="0" * 64
        )
