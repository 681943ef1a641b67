"""The provider's envelope, server side: check a request as WeChat Pay does, sign the answer.

Protocol failures (not POST, bad XML, unknown merchant, bad signature) answer return_code=FAIL
without a signature; everything after the signature check answers return_code=SUCCESS, signed
with the request's algorithm, and result_code SUCCESS or FAIL with an err_code.
"""

import secrets
from dataclasses import dataclass, field

from payments.gateway.wechatpay import xmlcodec
from payments.gateway.wechatpay.signing import SignType, sign, sign_type_of, verify
from payments.sandbox.account import SandboxAccount

REQUIRED = ("appid", "mch_id", "nonce_str", "sign")


class ProtocolFailure(Exception):
    """Answer return_code=FAIL with this return_msg."""


class BusinessFailure(Exception):
    """Answer result_code=FAIL with this err_code (and any extra fields)."""

    def __init__(self, err_code: str, err_code_des: str, **extra: str):
        super().__init__(err_code)
        self.err_code = err_code
        self.err_code_des = err_code_des
        self.extra = extra


@dataclass(slots=True)
class Request:
    fields: dict[str, str]
    sign_type: SignType

    def get(self, name: str) -> str:
        return self.fields.get(name, "")

    def require(self, *names: str) -> None:
        missing = [name for name in names if not self.fields.get(name)]
        if missing:
            raise BusinessFailure("LACK_PARAMS", f"缺少参数{missing[0]}")

    def fen(self, name: str) -> int:
        value = self.get(name)
        if not value.isdigit() or int(value) <= 0:
            raise BusinessFailure("PARAM_ERROR", f"{name}参数错误")
        return int(value)


@dataclass(slots=True)
class Answer:
    """An endpoint's answer; hold_seconds > 0 delays it (a provider that does not answer)."""

    body: bytes
    hold_seconds: float = 0.0
    content_type: str = "text/xml; charset=utf-8"
    extra: dict = field(default_factory=dict)


def protocol_failure(message: str) -> bytes:
    return xmlcodec.encode({"return_code": "FAIL", "return_msg": message})


def open_request(
    method: str, body: bytes, account: SandboxAccount, *, needs_appid: bool = True
) -> Request:
    """Check method, encoding, XML, merchant and signature; raise ProtocolFailure otherwise."""
    if method != "POST":
        raise ProtocolFailure("请使用post方法")
    if not body.strip():
        raise ProtocolFailure("post数据为空")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolFailure("编码格式错误") from None
    try:
        fields = xmlcodec.decode(body)
    except xmlcodec.XmlError:
        raise ProtocolFailure("XML格式错误") from None
    # getsignkey is the one request without an appid.
    for name in REQUIRED if needs_appid else REQUIRED[1:]:
        if not fields.get(name):
            raise ProtocolFailure(f"缺少参数{name}")
    if fields["mch_id"] != account.mch_id:
        raise ProtocolFailure("商户号mch_id不存在")
    if fields.get("appid", account.appid) != account.appid:
        raise ProtocolFailure("appid和mch_id不匹配")
    try:
        sign_type = sign_type_of(fields.get("sign_type"))
    except ValueError:
        raise ProtocolFailure("sign_type参数错误") from None
    if not verify(fields, account.api_key, sign_type):
        raise ProtocolFailure("签名错误")
    return Request(fields=fields, sign_type=sign_type)


def signed_answer(
    request: Request, account: SandboxAccount, fields: dict[str, str], *, ok: bool = True
) -> bytes:
    answer = {
        "return_code": "SUCCESS",
        "return_msg": "OK",
        "appid": account.appid,
        "mch_id": account.mch_id,
        "nonce_str": secrets.token_hex(16),
        "result_code": "SUCCESS" if ok else "FAIL",
    }
    for name in ("sub_mch_id", "sub_appid", "device_info"):
        if request.get(name):
            answer[name] = request.get(name)
    answer.update({k: str(v) for k, v in fields.items() if v is not None and v != ""})
    answer["sign"] = sign(answer, account.api_key, request.sign_type)
    return xmlcodec.encode(answer)


def failure_answer(request: Request, account: SandboxAccount, failure: BusinessFailure) -> bytes:
    fields = {"err_code": failure.err_code, "err_code_des": failure.err_code_des}
    return signed_answer(request, account, {**fields, **failure.extra}, ok=False)
