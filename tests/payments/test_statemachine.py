"""The payment and refund lifecycles, walked by hypothesis (no database: the machine's rules)."""

import itertools
from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from payments.statemachine import IllegalTransition, payment_machine, refund_machine

PAYMENT_ACTIONS = sorted(payment_machine.actions)
REFUND_ACTIONS = sorted(refund_machine.actions)


def walk(machine, actions, start="created") -> list[str]:
    row, states = SimpleNamespace(state=start), [start]
    for action in actions:
        try:
            row.state = machine.check(row, action).target_for(row)
        except IllegalTransition:
            continue
        states.append(row.state)
    return states


@given(st.lists(st.sampled_from(PAYMENT_ACTIONS), max_size=12))
def test_a_payment_is_never_charged_twice_and_never_leaves_success(actions):
    states = walk(payment_machine, actions)
    assert states.count("succeeded") <= 1
    if "succeeded" in states:
        assert states[-1] == "succeeded"


@given(st.lists(st.sampled_from(PAYMENT_ACTIONS), max_size=12))
def test_only_a_sent_payment_can_be_reversed_and_reversal_is_final(actions):
    states = walk(payment_machine, actions)
    for before, after in itertools.pairwise(states):
        if after == "reversed":
            assert before == "paying"
    if "reversed" in states:
        # A reversal refunds a paid order: nothing moves a reversed payment on.
        assert states[-1] == "reversed"


@given(st.lists(st.sampled_from(PAYMENT_ACTIONS), max_size=12))
def test_a_payment_never_goes_back_to_created_or_to_its_prompt(actions):
    states = walk(payment_machine, actions)
    assert "created" not in states[1:]
    if "awaiting_scan" in states:
        assert states.index("awaiting_scan") == 1 and states.count("awaiting_scan") == 1


@given(st.lists(st.sampled_from(REFUND_ACTIONS), max_size=8))
def test_a_refund_ends_once(actions):
    states = walk(refund_machine, actions)
    finals = [s for s in states if s in ("succeeded", "failed")]
    assert len(finals) <= 1
    if finals:
        assert states[-1] == finals[0]


def test_succeed_leaves_only_open_states():
    assert sorted(payment_machine.actions["succeed"].sources) == [
        "awaiting_scan", "created", "paying",
    ]  # fmt: skip


def test_only_a_given_up_payment_can_succeed_after_close():
    """failed or closed here, paid at the provider: the one way back to succeeded."""
    for state in payment_machine.states:
        row = SimpleNamespace(state=state)
        expected = state in ("failed", "closed")
        assert payment_machine.can(row, "succeed_after_close") is expected, state
    assert payment_machine.actions["succeed_after_close"].target == "succeeded"


@given(st.lists(st.sampled_from(PAYMENT_ACTIONS), max_size=12))
def test_a_payment_succeeds_after_close_only_from_a_final_state_other_than_success(actions):
    row, previous = SimpleNamespace(state="created"), []
    for action in actions:
        if not payment_machine.can(row, action):
            continue
        previous.append(row.state)
        row.state = payment_machine.check(row, action).target_for(row)
        if action == "succeed_after_close":
            assert previous[-1] in ("failed", "closed")
