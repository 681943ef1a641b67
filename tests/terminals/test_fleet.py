import threading
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection, connections
from django.utils import timezone

from config.api_errors import ApiError, Conflict
from tenancy.models import AuditEntry
from tenancy.principals import Principal
from terminals import credentials
from terminals.models import ActivationCode, Terminal, TerminalAssignment, TerminalEvent
from terminals.models import TerminalState as S
from terminals.services import fleet
from terminals.services.fleet import QuotaExceeded
from terminals.statemachine import IllegalTransition
from tests.terminals.factories import SYSTEM, active, assigned, in_stock

pytestmark = pytest.mark.django_db


def test_serial_gives_the_bluetooth_name():
    assert Terminal.bluetooth_name_for("WST01-00012345") == "WST01-2345"


def test_allocation_assignment_and_activation_walk_the_lifecycle(world):
    terminal, code = assigned(world.a)
    assert terminal.state == S.ASSIGNED
    assert terminal.store_id == world.a.store.pk
    assert terminal.merchant_id == world.a.merchant.pk
    activated = fleet.terminal_activate(serial=terminal.serial, code=code)
    terminal.refresh_from_db()
    assert terminal.state == S.ACTIVE
    assert terminal.stored_key == credentials.stored_key_for(activated.secret)
    assert activated.secret not in str(AuditEntry.objects.values_list("changes", "metadata"))
    kinds = list(TerminalEvent.objects.filter(terminal=terminal).values_list("kind", flat=True))
    assert {"lifecycle.allocate", "lifecycle.assign", "lifecycle.activate"} <= set(kinds)


def test_activation_codes_are_stored_hashed(world):
    terminal, code = assigned(world.a)
    stored = ActivationCode.objects.get(terminal=terminal)
    assert stored.code_hash != code and code.replace("-", "") not in stored.code_hash


def test_wrong_code_is_refused(world):
    terminal, _ = assigned(world.a)
    with pytest.raises(ApiError) as caught:
        fleet.terminal_activate(serial=terminal.serial, code="AAAA-AAAA")
    assert caught.value.code == "invalid_activation"
    assert ActivationCode.objects.get(terminal=terminal).failed_attempts == 1


def test_wrong_serial_is_refused_like_a_wrong_code(world):
    _, code = assigned(world.a)
    with pytest.raises(ApiError) as caught:
        fleet.terminal_activate(serial="WST01-99999999", code=code)
    assert caught.value.code == "invalid_activation"


def test_code_of_another_terminal_is_refused(world):
    first, _ = assigned(world.a)
    _, other_code = assigned(world.a)
    with pytest.raises(ApiError) as caught:
        fleet.terminal_activate(serial=first.serial, code=other_code)
    assert caught.value.code == "invalid_activation"


def test_expired_code_is_refused(world):
    terminal, code = assigned(world.a)
    ActivationCode.objects.filter(terminal=terminal).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(ApiError) as caught:
        fleet.terminal_activate(serial=terminal.serial, code=code)
    assert caught.value.code == "activation_code_expired"
    terminal.refresh_from_db()
    assert terminal.state == S.ASSIGNED and not terminal.stored_key


def test_used_code_is_refused_and_the_secret_is_given_once(world):
    terminal, code = assigned(world.a)
    fleet.terminal_activate(serial=terminal.serial, code=code)
    with pytest.raises(Conflict) as caught:
        fleet.terminal_activate(serial=terminal.serial, code=code)
    assert caught.value.code == "activation_code_used"


def test_code_is_burnt_after_repeated_wrong_attempts(world):
    terminal, code = assigned(world.a)
    for _ in range(5):
        with pytest.raises(ApiError):
            fleet.terminal_activate(serial=terminal.serial, code="AAAA-AAAA")
    with pytest.raises(ApiError) as caught:
        fleet.terminal_activate(serial=terminal.serial, code=code)
    assert caught.value.code == "activation_code_revoked"


def test_code_is_typed_forgivingly(world):
    terminal, code = assigned(world.a)
    fleet.terminal_activate(serial=terminal.serial.lower(), code=code.lower().replace("-", " "))


def test_allocation_beyond_the_quota_is_refused_whole(world):
    world.a.enterprise.terminal_quota = 2
    world.a.enterprise.save()
    terminals = in_stock(3)
    with pytest.raises(QuotaExceeded):
        fleet.terminals_allocate(
            actor=SYSTEM,
            terminal_ids=[t.pk for t in terminals],
            enterprise_id=world.a.enterprise.pk,
        )
    assert not Terminal.objects.filter(enterprise=world.a.enterprise).exists()


def test_only_ops_admins_allocate(world):
    (terminal,) = in_stock()
    admin = Principal.for_user(world.a.admin)
    with pytest.raises(PermissionDenied):
        fleet.terminals_allocate(
            actor=admin, terminal_ids=[terminal.pk], enterprise_id=world.a.enterprise.pk
        )


def test_store_of_another_enterprise_cannot_be_assigned(world):
    (terminal,) = in_stock()
    fleet.terminals_allocate(
        actor=SYSTEM, terminal_ids=[terminal.pk], enterprise_id=world.a.enterprise.pk
    )
    admin = Principal.for_user(world.a.admin)
    with pytest.raises(ApiError) as caught:
        fleet.terminal_assign(actor=admin, terminal_id=terminal.pk, store_id=world.b.store.pk)
    assert caught.value.code == "validation_error"


def test_enterprise_admin_of_another_tenant_cannot_assign(world):
    (terminal,) = in_stock()
    fleet.terminals_allocate(
        actor=SYSTEM, terminal_ids=[terminal.pk], enterprise_id=world.a.enterprise.pk
    )
    with pytest.raises(PermissionDenied):
        fleet.terminal_assign(
            actor=Principal.for_user(world.b.admin),
            terminal_id=terminal.pk,
            store_id=world.b.store.pk,
        )


def test_reassign_and_unassign_keep_the_history(world):
    terminal, _ = active(world.a)
    admin = Principal.for_user(world.a.admin)
    fleet.terminal_reassign(actor=admin, terminal_id=terminal.pk, store_id=world.a.store2.pk)
    terminal.refresh_from_db()
    assert terminal.state == S.ACTIVE and terminal.store_id == world.a.store2.pk
    fleet.terminal_unassign(actor=admin, terminal_id=terminal.pk, reason="closing")
    terminal.refresh_from_db()
    assert terminal.state == S.ALLOCATED and terminal.store_id is None
    assert not terminal.stored_key and terminal.credentials_revoked_at is not None
    history = TerminalAssignment.objects.filter(terminal=terminal).order_by("assigned_at")
    assert [h.store_id for h in history] == [world.a.store.pk, world.a.store2.pk]
    assert all(h.unassigned_at for h in history)


def test_suspend_resume_and_illegal_moves(world):
    terminal, _ = active(world.a)
    admin = Principal.for_user(world.a.admin)
    fleet.terminal_suspend(actor=admin, terminal_id=terminal.pk)
    with pytest.raises(IllegalTransition):
        fleet.terminal_suspend(actor=admin, terminal_id=terminal.pk)
    fleet.terminal_resume(actor=admin, terminal_id=terminal.pk)
    terminal.refresh_from_db()
    assert terminal.state == S.ACTIVE


def test_retire_and_lost_revoke_credentials(world):
    terminal, _ = active(world.a)
    fleet.terminal_retire(actor=SYSTEM, terminal_id=terminal.pk)
    terminal.refresh_from_db()
    assert terminal.state == S.RETIRED and not terminal.stored_key
    other, _ = active(world.a)
    fleet.terminal_retire(actor=Principal.for_user(world.a.admin), terminal_id=other.pk, lost=True)
    other.refresh_from_db()
    assert other.state == S.LOST and not other.stored_key
    with pytest.raises(IllegalTransition):
        fleet.terminal_suspend(actor=SYSTEM, terminal_id=other.pk)


def test_revoked_terminal_activates_again_with_a_new_code(world):
    terminal, _ = active(world.a)
    admin = Principal.for_user(world.a.admin)
    fleet.terminal_revoke_credentials(actor=admin, terminal_id=terminal.pk)
    issued = fleet.terminal_issue_activation_code(actor=admin, terminal_id=terminal.pk)
    again = fleet.terminal_activate(serial=terminal.serial, code=issued.activation_code)
    terminal.refresh_from_db()
    assert terminal.stored_key == credentials.stored_key_for(again.secret)


@pytest.mark.django_db(transaction=True)
def test_concurrent_allocations_never_exceed_the_quota(world):
    """Two real connections allocate at once; the enterprise row lock makes the second wait."""
    world.a.enterprise.terminal_quota = 3
    world.a.enterprise.save()
    first, second = in_stock(2), in_stock(2)
    barrier = threading.Barrier(2)
    outcomes = []

    def allocate(terminals):
        try:
            barrier.wait(timeout=10)
            fleet.terminals_allocate(
                actor=SYSTEM,
                terminal_ids=[t.pk for t in terminals],
                enterprise_id=world.a.enterprise.pk,
            )
            outcomes.append("ok")
        except QuotaExceeded:
            outcomes.append("quota")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=allocate, args=(batch,)) for batch in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ok", "quota"]
    assert Terminal.objects.filter(enterprise=world.a.enterprise).count() == 2
    assert connection.vendor == "postgresql"
