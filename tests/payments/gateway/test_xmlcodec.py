"""The XML envelope: CDATA or bare values, hostile documents refused."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.gateway.wechatpay.xmlcodec import XmlError, decode, encode

# XML 1.0 cannot carry most control characters; the protocol's values never contain them.
xml_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
    max_size=50,
)
names = st.from_regex(r"[a-z][a-z_0-9]{0,15}", fullmatch=True)


@given(fields=st.dictionaries(names, xml_text, max_size=15))
def test_encode_then_decode_returns_the_fields(fields):
    assert decode(encode(fields)) == fields


def test_sign_is_written_last():
    assert encode({"sign": "S", "a": "1"}).endswith(b"<sign><![CDATA[S]]></sign></xml>")


def test_bare_and_cdata_values_are_both_read():
    body = b"<xml><total_fee>1</total_fee><body><![CDATA[a<b]]></body></xml>"
    assert decode(body) == {"total_fee": "1", "body": "a<b"}


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html><body>502 Bad Gateway</body></html>",
        b"not xml at all",
        b"<xml><a><b>1</b></a></xml>",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><xml><a>&e;</a></xml>',
    ],
)
def test_non_protocol_documents_are_refused(body):
    with pytest.raises(XmlError):
        decode(body)
