"""The client certificate goes with the secapi calls (reverse, refund) over mutual TLS."""

import ipaddress
import ssl
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from payments.gateway import ImproperlyConfiguredGateway, RefundRequest, SubMerchant
from payments.gateway.wechatpay import xmlcodec
from payments.gateway.wechatpay.client import WeChatPayClient
from payments.gateway.wechatpay.config import WeChatPayConfig
from payments.gateway.wechatpay.signing import SignType, sign
from tests.payments.scripted_provider import Reply, scripted_provider

KEY = "0123456789abcdef0123456789abcdef"
MERCHANT = SubMerchant(sub_mch_id="1900000109")


def _certificate(subject: str, key, issuer_key, issuer: str, *, ca: bool = False, ip=None):
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ip:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path, certificate, key) -> tuple[str, str]:
    cert_path, key_path = path.with_suffix(".crt"), path.with_suffix(".key")
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


@pytest.fixture
def pki(tmp_path):
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("Test CA", ca_key, ca_key, "Test CA", ca=True)
    ca_path, _ = _write(tmp_path / "ca", ca, ca_key)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _write(
        tmp_path / "server",
        _certificate("provider", server_key, ca_key, "Test CA", ip="127.0.0.1"),
        server_key,
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _write(
        tmp_path / "apiclient",
        _certificate("1230000109", client_key, ca_key, "Test CA"),
        client_key,
    )
    return {"ca": ca_path, "server": server, "client": client}


def _answer(request: dict[str, str]) -> Reply:
    fields = {
        "return_code": "SUCCESS",
        "appid": request["appid"],
        "mch_id": request["mch_id"],
        "sub_mch_id": request["sub_mch_id"],
        "nonce_str": "n",
        "result_code": "SUCCESS",
        "recall": "N",
        "out_trade_no": request.get("out_trade_no", ""),
        "out_refund_no": request.get("out_refund_no", ""),
        "refund_fee": request.get("refund_fee", ""),
        "refund_id": "50300000000000000000000000001",
        "trade_state": "NOTPAY",
        "total_fee": request.get("total_fee", "1"),
    }
    fields = {k: v for k, v in fields.items() if v}
    fields["sign"] = sign(fields, KEY, SignType.MD5)
    return Reply(body=xmlcodec.encode(fields))


def test_secapi_calls_present_the_client_certificate_and_others_do_not(pki):
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(*pki["server"])
    tls.load_verify_locations(pki["ca"])
    tls.verify_mode = ssl.CERT_OPTIONAL
    with scripted_provider(_answer, tls=tls) as (url, received):
        config = WeChatPayConfig(
            appid="wxappid0000000001", mch_id="1230000109", api_key=KEY, base_url=url,
            sign_type=SignType.MD5, cert_path=pki["client"][0], key_path=pki["client"][1],
            ca_bundle=pki["ca"],
        )  # fmt: skip
        client = WeChatPayClient(config, recorder=None)
        client.order_query(merchant=MERCHANT, out_trade_no="T1")
        assert client.reverse(merchant=MERCHANT, out_trade_no="T1").ok
        refund = RefundRequest(
            merchant=MERCHANT, out_trade_no="T1", out_refund_no="R1", total_fee=5, refund_fee=5
        )
        assert client.refund(refund).ok
        client.close()
    presented = {r["path"]: r["client_cert"] for r in received}
    assert presented == {
        "/pay/orderquery": "no",
        "/secapi/pay/reverse": "yes",
        "/secapi/pay/refund": "yes",
    }


def test_a_certificate_without_its_key_is_a_configuration_error():
    with pytest.raises(ImproperlyConfiguredGateway):
        WeChatPayConfig(appid="a", mch_id="m", api_key=KEY, cert_path="/tmp/cert.pem")
