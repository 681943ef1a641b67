"""Refunds: partial, full, idempotent retries, over-refunds refused, refundquery follows them."""

import httpx
import pytest

from payments.gateway import MicropayRequest, RefundRequest, RefundStatus, TradeState
from tests.conftest import wait_until
from tests.payments.sandbox.conftest import PAID, USERPAYING_FOREVER, new_number

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def paid_order(client, merchant, *, code=PAID, total_fee=1000) -> str:
    out_trade_no = new_number()
    client.micropay(
        MicropayRequest(
            merchant=merchant,
            out_trade_no=out_trade_no,
            total_fee=total_fee,
            body="Demo store-Refunds",
            auth_code=code,
            spbill_create_ip="10.1.2.3",
        )
    )
    return out_trade_no


def refund(client, merchant, out_trade_no, out_refund_no, refund_fee, total_fee=1000):
    return client.refund(
        RefundRequest(
            merchant=merchant,
            out_trade_no=out_trade_no,
            out_refund_no=out_refund_no,
            total_fee=total_fee,
            refund_fee=refund_fee,
        )
    )


def test_partial_then_full_refunds_up_to_the_paid_amount(client, merchant):
    out_trade_no = paid_order(client, merchant)
    first = refund(client, merchant, out_trade_no, "R1" + out_trade_no[:20], 300)
    assert first.ok and first.refund_id and first.refund_fee == 300
    retried = refund(client, merchant, out_trade_no, "R1" + out_trade_no[:20], 300)
    assert retried.refund_id == first.refund_id
    over = refund(client, merchant, out_trade_no, "R2" + out_trade_no[:20], 701)
    assert (over.ok, over.err_code) == (False, "ERROR")
    rest = refund(client, merchant, out_trade_no, "R2" + out_trade_no[:20], 700)
    assert rest.ok
    more = refund(client, merchant, out_trade_no, "R3" + out_trade_no[:20], 1)
    assert not more.ok
    state = client.order_query(merchant=merchant, out_trade_no=out_trade_no)
    assert state.trade_state == TradeState.REFUND
    by_order = client.refund_query(merchant=merchant, out_trade_no=out_trade_no)
    assert [r.refund_fee for r in by_order.refunds] == [300, 700]
    wait_until(
        lambda: (
            client.refund_query(merchant=merchant, out_refund_no="R2" + out_trade_no[:20])
            .refunds[0]
            .status
            == RefundStatus.SUCCESS
        ),
        what="the refund to succeed",
    )
    done = client.refund_query(merchant=merchant, out_refund_no="R2" + out_trade_no[:20])
    assert done.refunds[0].success_time is not None


def test_a_retry_with_another_amount_is_refused(client, merchant):
    out_trade_no = paid_order(client, merchant)
    assert refund(client, merchant, out_trade_no, "RA" + out_trade_no[:20], 100).ok
    changed = refund(client, merchant, out_trade_no, "RA" + out_trade_no[:20], 200)
    assert (changed.ok, changed.err_code) == (False, "PARAM_ERROR")


def test_an_unpaid_order_cannot_be_refunded(client, merchant):
    out_trade_no = paid_order(client, merchant, code=USERPAYING_FOREVER)
    result = refund(client, merchant, out_trade_no, "RU" + out_trade_no[:20], 100)
    assert (result.ok, result.err_code) == (False, "ORDERNOTEXIST")


def test_the_total_must_match_the_order(client, merchant):
    out_trade_no = paid_order(client, merchant)
    result = refund(client, merchant, out_trade_no, "RT" + out_trade_no[:20], 100, total_fee=999)
    assert (result.ok, result.err_code) == (False, "PARAM_ERROR")


def test_an_unknown_refund_is_refundnotexist(client, merchant):
    result = client.refund_query(merchant=merchant, out_refund_no="NOPE" + new_number())
    assert (result.ok, result.err_code) == (False, "REFUNDNOTEXIST")


def test_many_refunds_are_paged_by_ten(client, merchant):
    out_trade_no = paid_order(client, merchant, total_fee=1000)
    for n in range(12):
        assert refund(client, merchant, out_trade_no, f"P{n:02d}{out_trade_no[:20]}", 10).ok
    first = client.refund_query(merchant=merchant, out_trade_no=out_trade_no)
    assert (first.total_refund_count, len(first.refunds)) == (12, 10)
    second = client.refund_query(merchant=merchant, out_trade_no=out_trade_no, offset=10)
    assert [r.out_refund_no[:3] for r in second.refunds] == ["P10", "P11"]
    past = client.refund_query(merchant=merchant, out_trade_no=out_trade_no, offset=12)
    assert (past.ok, past.err_code) == (False, "PARAM_ERROR")


def test_the_client_refuses_a_refund_above_the_total_before_sending(client, merchant):
    with pytest.raises(ValueError, match="refund_fee"):
        refund(client, merchant, "T1", "R1", 1001)


def script(sandbox_url, out_refund_no, outcome):
    return httpx.post(f"{sandbox_url}/control/refund-outcome", timeout=10,
                      json={"out_refund_no": out_refund_no, "outcome": outcome})  # fmt: skip


@pytest.mark.parametrize("outcome", ["CHANGE", "REFUNDCLOSE"])
def test_a_scripted_refund_ends_as_scripted_after_processing(client, merchant, sandbox_url,
                                                             outcome):  # fmt: skip
    out_trade_no = paid_order(client, merchant)
    number = "RS" + out_trade_no[:20]
    assert refund(client, merchant, out_trade_no, number, 400).ok
    assert script(sandbox_url, number, outcome).json()["outcome"] == outcome
    wait_until(
        lambda: (
            client.refund_query(merchant=merchant, out_refund_no=number).refunds[0].status
            == outcome
        ),
        what=f"the refund to end {outcome}",
    )
    done = client.refund_query(merchant=merchant, out_refund_no=number).refunds[0]
    assert done.success_time is None
    # A closed refund gave the money back: it can be refunded again; a bounced one did not.
    again = refund(client, merchant, out_trade_no, "RX" + out_trade_no[:20], 1000 - 400 + 1)
    assert again.ok is (outcome == "REFUNDCLOSE")


def test_scripting_an_unknown_refund_or_outcome_is_refused(sandbox_url):
    assert script(sandbox_url, "NOPE" + new_number(), "CHANGE").status_code == 404
    assert script(sandbox_url, "NOPE" + new_number(), "LOST").status_code == 400
