"""Trade bills: the three current formats round-trip, the old format parses, bad bills raise."""

from dataclasses import fields, replace
from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.gateway.errors import MalformedResponse
from payments.gateway.types import BillRow, BillType
from payments.gateway.wechatpay.bills import COLUMNS, HEADERS, bill_totals, parse_bill, render_bill
from payments.gateway.wechatpay.timefmt import BEIJING

DAY = date(2026, 11, 24)
text = st.text(alphabet="abcXYZ019中文商品-_.,%@", max_size=20)
moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)).map(
    lambda d: d.replace(microsecond=0, tzinfo=BEIJING)
)
fen = st.integers(min_value=0, max_value=10**10)

rows = st.builds(
    BillRow,
    trade_time=moments,
    appid=text, mch_id=text, sub_mch_id=text, device_info=text, transaction_id=text,
    out_trade_no=text, openid=text, trade_type=text, trade_state=text, bank_type=text,
    currency=text, settlement_total_fee=fen, coupon_fee=fen, body=text, attach=text,
    fee=st.integers(min_value=-(10**6), max_value=10**6), rate=text, total_fee=fen,
    refund_id=text, out_refund_no=text, refund_fee=fen, coupon_refund_fee=fen,
    refund_type=text, refund_status=text, apply_refund_fee=fen, rate_note=text,
    refund_apply_time=st.none() | moments, refund_success_time=st.none() | moments,
)  # fmt: skip


def _only_columns_of(row: BillRow, bill_type: BillType) -> BillRow:
    """What a bill of this type can carry: other attributes take their defaults."""
    present = {COLUMNS[name][0] for name in HEADERS[bill_type]}
    defaults = {f.name: f.default for f in fields(BillRow) if f.name not in present}
    return replace(row, **defaults)


@given(bill_rows=st.lists(rows, max_size=8), bill_type=st.sampled_from(list(BillType)))
def test_rendered_bills_parse_back_to_their_rows(bill_rows, bill_type):
    expected = tuple(_only_columns_of(row, bill_type) for row in bill_rows)
    bill = parse_bill(render_bill(expected, bill_type), bill_date=DAY, bill_type=bill_type)
    assert bill.rows == expected
    assert bill.summary.count == len(expected)
    assert bill.summary.settlement_total == bill_totals(expected).settlement_total
    assert bill.summary.fee_total == bill_totals(expected).fee_total


def test_each_format_has_its_documented_width():
    assert [len(HEADERS[t]) for t in (BillType.ALL, BillType.SUCCESS, BillType.REFUND)] == [
        27,
        20,
        29,
    ]


OLD_ROW = (
    "`2014-11-10 16:33:45,`wx2421b1c4370ec43b,`10000100,`0,`1000,`1001690740201411100005734289,"
    "`1415640626,`085e9858e3ba5186aafcbaed1,`MICROPAY,`SUCCESS,`CFT,`CNY,`0.01,`0.0,`0,`0,`0,`0,"
    "`,`,`被扫支付测试,`订单额外描述,`0,`0.60%"
)
OLD_HEADER = (
    "交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,"
    "付款银行,货币种类,总金额,代金券或立减优惠金额,微信退款单号,商户退款单号,退款金额,"
    "代金券或立减优惠退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率"
)


def test_the_old_24_column_format_parses():
    body = "\r\n".join(
        [
            OLD_HEADER,
            OLD_ROW,
            OLD_ROW.replace("1415640626", "1415640627"),
            "总交易单数,总交易额,总退款金额,总代金券或立减优惠退款金额,手续费总金额",
            "`2,`0.02,`0.0,`0.0,`0",
        ]
    )
    bill = parse_bill(body, bill_date=DAY, bill_type=BillType.ALL)
    first = bill.rows[0]
    assert (first.out_trade_no, first.trade_type, first.settlement_total_fee) == (
        "1415640626",
        "MICROPAY",
        1,
    )
    assert first.trade_time == datetime(2014, 11, 10, 16, 33, 45, tzinfo=BEIJING)
    assert first.body == "被扫支付测试"
    assert bill.summary.settlement_total == 2


def test_a_truncated_bill_is_malformed():
    body = "\r\n".join(
        [
            OLD_HEADER,
            OLD_ROW,
            "总交易单数,总交易额,总退款金额,总代金券或立减优惠退款金额,手续费总金额",
            "`2,`0.02,`0,`0,`0",
        ]
    )
    with pytest.raises(MalformedResponse, match="summary says 2"):
        parse_bill(body, bill_date=DAY, bill_type=BillType.ALL)


@pytest.mark.parametrize(
    "body",
    [
        "",
        "<html>oops</html>",
        OLD_HEADER + "\r\n" + OLD_ROW,  # no summary
        OLD_HEADER + "\r\n" + OLD_ROW.replace("`0.01", "`0.015") + "\r\n总交易单数\r\n`1",
        OLD_HEADER + "\r\n" + OLD_ROW.replace("`", "") + "\r\n总交易单数\r\n`1",
    ],
)
def test_malformed_bills_raise(body):
    with pytest.raises(MalformedResponse):
        parse_bill(body, bill_date=DAY, bill_type=BillType.ALL)
