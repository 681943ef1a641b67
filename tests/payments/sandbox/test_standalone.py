"""`manage.py sandbox_provider` serves the same protocol at the root of its own address."""

from collections.abc import Iterator

import httpx
import pytest

from payments.gateway import BillType, MicropayOutcome, MicropayRequest, TradeState
from payments.gateway.wechatpay.client import WeChatPayClient
from payments.sandbox.bills import today
from tests.payments.sandbox.conftest import PAID, new_number, sandbox_config, standalone_sandbox

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture(scope="module")
def standalone_url(live_env) -> Iterator[str]:
    with standalone_sandbox(live_env, "sandbox-provider") as url:
        yield url


def test_a_payment_through_the_standalone_sandbox(standalone_url, merchant):
    client = WeChatPayClient(sandbox_config(standalone_url))
    out_trade_no = new_number()
    result = client.micropay(
        MicropayRequest(
            merchant=merchant,
            out_trade_no=out_trade_no,
            total_fee=42,
            body="Standalone-Test",
            auth_code=PAID,
            spbill_create_ip="10.1.2.3",
        )
    )
    assert result.outcome == MicropayOutcome.PAID
    state = client.order_query(merchant=merchant, out_trade_no=out_trade_no)
    assert state.trade_state == TradeState.SUCCESS
    bill = client.download_bill(bill_date=today(), bill_type=BillType.ALL, merchant=merchant)
    assert [row.out_trade_no for row in bill.rows] == [out_trade_no]


def test_the_platform_is_not_served_by_the_standalone_sandbox(standalone_url):
    assert httpx.get(f"{standalone_url}/healthz").status_code == 404
