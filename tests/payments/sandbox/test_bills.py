"""downloadbill: what the sandbox processed, in the ALL / SUCCESS / REFUND formats, with faults."""

import httpx
import pytest
from django.conf import settings

from payments.gateway import (
    BillType,
    MicropayRequest,
    NativeOrderRequest,
    ProviderRejected,
    RefundRequest,
)
from payments.gateway.wechatpay.bills import HEADERS
from payments.sandbox.bills import today
from tests.payments.sandbox.conftest import PAID, new_number

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
ADMIN = {"Authorization": f"Bearer {settings.SANDBOX_WECHATPAY_ADMIN_TOKEN}"}


def micropay(client, merchant, total_fee: int) -> str:
    out_trade_no = new_number()
    result = client.micropay(
        MicropayRequest(
            merchant=merchant,
            out_trade_no=out_trade_no,
            total_fee=total_fee,
            body="Demo store-Bills",
            auth_code=PAID,
            spbill_create_ip="10.1.2.3",
        )
    )
    assert result.ok
    return out_trade_no


@pytest.fixture
def day_of_business(client, merchant, sandbox_url):
    """Three micropays, a partial refund, a reversed payment and a paid native order."""
    a, b, c = (micropay(client, merchant, fee) for fee in (100, 250, 1999))
    refund = RefundRequest(
        merchant=merchant, out_trade_no=b, out_refund_no="R" + b, total_fee=250, refund_fee=50
    )
    assert client.refund(refund).ok
    assert client.reverse(merchant=merchant, out_trade_no=c).ok
    native = NativeOrderRequest(
        merchant=merchant,
        out_trade_no=new_number("N"),
        total_fee=300,
        body="Demo store-QR",
        product_id="P1",
        spbill_create_ip="10.1.2.3",
        notify_url="http://127.0.0.1:9/notify",
    )
    code_url = client.native_order(native).code_url
    assert httpx.post(f"{sandbox_url}/control/scan", json={"code_url": code_url}).is_success
    return {"a": a, "b": b, "c": c, "native": native.out_trade_no}


def download(client, merchant, bill_type=BillType.ALL, **options):
    return client.download_bill(
        bill_date=today(), bill_type=bill_type, merchant=merchant, **options
    )


def test_the_all_bill_lists_payments_refunds_and_reversals(client, merchant, day_of_business):
    bill = download(client, merchant)
    states = sorted((row.out_trade_no, row.trade_state) for row in bill.rows)
    orders = day_of_business
    assert states == sorted(
        [
            (orders["a"], "SUCCESS"),
            (orders["b"], "SUCCESS"),
            (orders["c"], "SUCCESS"),
            (orders["native"], "SUCCESS"),
            (orders["b"], "REFUND"),
            (orders["c"], "REVOKED"),
        ]
    )
    assert bill.summary.settlement_total == 100 + 250 + 1999 + 300
    assert bill.summary.refund_total == 50 + 1999
    refund_row = next(row for row in bill.rows if row.trade_state == "REFUND")
    assert (refund_row.out_refund_no, refund_row.refund_fee) == ("R" + orders["b"], 50)
    assert all(row.sub_mch_id == merchant.sub_mch_id for row in bill.rows)


def test_the_success_and_refund_bills_split_the_day(client, merchant, day_of_business):
    success = download(client, merchant, BillType.SUCCESS)
    assert {row.trade_state for row in success.rows} == {"SUCCESS"}
    assert len(success.rows) == 4
    assert success.summary.fee_total == sum(row.fee for row in success.rows)
    refunds = download(client, merchant, BillType.REFUND)
    assert sorted(row.trade_state for row in refunds.rows) == ["REFUND", "REVOKED"]
    assert all(row.refund_apply_time for row in refunds.rows)


@pytest.mark.parametrize("bill_type", list(BillType))
def test_bills_come_in_the_documented_columns_with_backticks(
    sandbox_url, merchant, day_of_business, bill_type
):
    from payments.gateway.wechatpay import xmlcodec
    from payments.gateway.wechatpay.signing import sign

    fields = {
        "appid": settings.SANDBOX_WECHATPAY_APPID,
        "mch_id": settings.SANDBOX_WECHATPAY_MCH_ID,
        "sub_mch_id": merchant.sub_mch_id,
        "nonce_str": "n0nce",
        "bill_date": today().strftime("%Y%m%d"),
        "bill_type": bill_type.value,
    }
    fields["sign"] = sign(fields, settings.SANDBOX_WECHATPAY_API_KEY)
    text = httpx.post(f"{sandbox_url}/pay/downloadbill", content=xmlcodec.encode(fields)).text
    lines = text.splitlines()
    assert lines[0].split(",") == HEADERS[bill_type]
    assert all(line.startswith("`") for line in lines[1:-2])
    assert all(len(line.split(",`")) == len(HEADERS[bill_type]) for line in lines[1:-2])
    assert lines[-2].startswith("总交易单数")


def test_a_gzip_bill_is_the_same_bill(client, merchant, day_of_business):
    assert download(client, merchant, gzip=True).rows == download(client, merchant).rows


def test_a_day_without_business_has_no_bill(client, merchant):
    bill = download(client, merchant)
    assert not bill.exists and bill.rows == ()


def test_a_future_day_is_refused(client, merchant):
    from datetime import timedelta

    with pytest.raises(ProviderRejected, match="invalid bill_date"):
        client.download_bill(bill_date=today() + timedelta(days=2), merchant=merchant)


def test_injected_discrepancies_show_in_the_bill(client, merchant, sandbox_url, day_of_business):
    orders = day_of_business
    day = today().isoformat()
    url = f"{sandbox_url}/control/bill-adjustments"
    base = {"bill_date": day, "sub_mch_id": merchant.sub_mch_id}
    injected = [
        {**base, "kind": "missing_line", "out_trade_no": orders["a"]},
        {**base, "kind": "changed_amount", "out_trade_no": orders["native"], "amount": 299},
        {**base, "kind": "extra_payment", "amount": 4242},
    ]
    for adjustment in injected:
        response = httpx.post(url, json=adjustment, headers=ADMIN)
        assert response.status_code == 201, response.text
    extra_no = response.json()["out_trade_no"]
    bill = download(client, merchant, BillType.SUCCESS)
    amounts = {row.out_trade_no: row.settlement_total_fee for row in bill.rows}
    assert orders["a"] not in amounts
    assert amounts[orders["native"]] == 299
    assert amounts[extra_no] == 4242
    assert bill.summary.settlement_total == sum(amounts.values())
    listed = httpx.get(url, params={"bill_date": day}, headers=ADMIN).json()["adjustments"]
    assert {a["kind"] for a in listed if a["sub_mch_id"] == merchant.sub_mch_id} == {
        "missing_line",
        "changed_amount",
        "extra_payment",
    }


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong-token"}], ids=["anonymous", "wrong-token"]
)
def test_the_admin_endpoint_needs_the_token(sandbox_url, merchant, headers):
    body = {"bill_date": today().isoformat(), "sub_mch_id": merchant.sub_mch_id,
            "kind": "extra_payment", "amount": 1}  # fmt: skip
    response = httpx.post(f"{sandbox_url}/control/bill-adjustments", json=body, headers=headers)
    assert response.status_code == 403


def test_a_discrepancy_on_an_unknown_order_is_refused(sandbox_url, merchant):
    body = {"bill_date": today().isoformat(), "sub_mch_id": merchant.sub_mch_id,
            "kind": "missing_line", "out_trade_no": "NOSUCHORDER"}  # fmt: skip
    response = httpx.post(f"{sandbox_url}/control/bill-adjustments", json=body, headers=ADMIN)
    assert response.status_code == 400
    assert "out_trade_no" in response.json()["fields"]
