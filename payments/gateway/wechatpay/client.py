"""The WeChat Pay merchant API v2 client, service-provider mode.

One envelope for every endpoint: sign the request, post it, and accept the answer only when it is
XML with return_code SUCCESS, a valid signature and our own ids; anything else raises (see
payments.gateway.errors). Endpoint methods then read their fields into typed results.
"""

import asyncio
import re
import secrets
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

import httpx

from payments.gateway.errors import (
    GatewayError,
    GatewayUnavailable,
    MalformedResponse,
    ProviderRejected,
    SignatureInvalid,
)
from payments.gateway.recording import CallRecord, Recorder, log_call, record_to_database
from payments.gateway.types import (
    Bill,
    BillType,
    CloseOrderResult,
    MicropayRequest,
    MicropayResult,
    NativeOrderRequest,
    NativeOrderResult,
    OrderQueryResult,
    PaymentNotification,
    RefundQueryResult,
    RefundRequest,
    RefundResult,
    ReverseResult,
    SubMerchant,
)
from payments.gateway.wechatpay import answers, bills, notifications, xmlcodec
from payments.gateway.wechatpay.config import WeChatPayConfig
from payments.gateway.wechatpay.loop_transport import ConnectFailed, LoopHttpPool, NoAnswer
from payments.gateway.wechatpay.redaction import redact
from payments.gateway.wechatpay.signing import sign, verify
from payments.gateway.wechatpay.timefmt import to_provider
from payments.gateway.wechatpay.transport import XML_HEADERS, Transport, tls_context

T = TypeVar("T")
OUT_TRADE_NO = re.compile(r"^[0-9A-Za-z_\-|*@]{1,32}$")
OUT_REFUND_NO = re.compile(r"^[0-9A-Za-z_\-|*@]{1,64}$")


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    path: str
    secure: bool = False  # mutual TLS with the client certificate


MICROPAY = Endpoint("micropay", "/pay/micropay")
ORDERQUERY = Endpoint("orderquery", "/pay/orderquery")
REVERSE = Endpoint("reverse", "/secapi/pay/reverse", secure=True)
UNIFIEDORDER = Endpoint("unifiedorder", "/pay/unifiedorder")
CLOSEORDER = Endpoint("closeorder", "/pay/closeorder")
REFUND = Endpoint("refund", "/secapi/pay/refund", secure=True)
REFUNDQUERY = Endpoint("refundquery", "/pay/refundquery")
DOWNLOADBILL = Endpoint("downloadbill", "/pay/downloadbill")


def _check_number(pattern: re.Pattern, name: str, value: str) -> None:
    if not pattern.match(value):
        raise ValueError(f"{name} {value!r} is not a valid provider order number")


def _micropay_fields(request: MicropayRequest) -> dict:
    _check_number(OUT_TRADE_NO, "out_trade_no", request.out_trade_no)
    if request.total_fee <= 0:
        raise ValueError("total_fee must be positive")
    return {
        "body": request.body,
        "out_trade_no": request.out_trade_no,
        "total_fee": request.total_fee,
        "fee_type": "CNY",
        "spbill_create_ip": request.spbill_create_ip,
        "auth_code": request.auth_code,
        "device_info": request.device_info,
        "attach": request.attach,
        "goods_tag": request.goods_tag,
        "time_expire": to_provider(request.time_expire) if request.time_expire else None,
    }


class WeChatPayClient:
    """Implements payments.gateway.interface.PaymentGateway over the v2 XML API."""

    def __init__(
        self,
        config: WeChatPayConfig,
        *,
        recorder: Recorder | None = record_to_database,
        transport: httpx.BaseTransport | None = None,
    ):
        self.config = config
        self._recorder = recorder
        self._http = Transport(config, transport=transport)
        self._loop_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict] = (
            weakref.WeakKeyDictionary()
        )

    def close(self) -> None:
        self._http.close()

    # --- Envelope ---------------------------------------------------------------------------------

    def _request_fields(self, merchant: SubMerchant | None, fields: dict) -> dict[str, str]:
        base = {"appid": self.config.appid, "mch_id": self.config.mch_id}
        if merchant:
            base["sub_mch_id"] = merchant.sub_mch_id
            if merchant.sub_appid:
                base["sub_appid"] = merchant.sub_appid
        base["nonce_str"] = secrets.token_hex(16)
        base["sign_type"] = self.config.sign_type.value
        # Values go as strings: an integer 0 dropped as "empty" would break the signature.
        base.update({k: str(v) for k, v in fields.items() if v is not None and v != ""})
        base["sign"] = sign(base, self.config.api_key, self.config.sign_type)
        return base

    def _open(
        self, endpoint: Endpoint, merchant: SubMerchant | None, fields: dict
    ) -> tuple[dict[str, str], CallRecord]:
        request = self._request_fields(merchant, fields)
        return request, CallRecord(
            endpoint=endpoint.name, request_fields=redact(request), latency_ms=0
        )

    def _exchange(
        self,
        endpoint: Endpoint,
        merchant: SubMerchant | None,
        fields: dict,
        handle: Callable[[httpx.Response, dict[str, str], CallRecord], T],
    ) -> T:
        """Sign and send one call, hand its answer to `handle`; record it whatever happens."""
        request, record = self._open(endpoint, merchant, fields)
        started = time.perf_counter()
        try:
            response = self._http.post(
                endpoint.path, xmlcodec.encode(request), secure=endpoint.secure
            )
            record.http_status = response.status_code
            return handle(response, request, record)
        except GatewayError as exc:
            record.error = type(exc).__name__
            raise
        finally:
            record.latency_ms = round((time.perf_counter() - started) * 1000)
            if self._recorder:
                self._recorder(record)

    def _call(
        self,
        endpoint: Endpoint,
        merchant: SubMerchant | None,
        fields: dict,
        read: Callable[[dict[str, str]], T],
    ) -> T:
        """One enveloped call: accept the answer (signature, ids), then read its fields."""
        return self._exchange(
            endpoint,
            merchant,
            fields,
            lambda response, request, record: read(self._accept(response, request, record)),
        )

    async def _call_on_loop(
        self,
        endpoint: Endpoint,
        merchant: SubMerchant | None,
        fields: dict,
        read: Callable[[dict[str, str]], T],
    ) -> tuple[T | GatewayError, CallRecord]:
        """`_call` from the event loop: the result or the GatewayError standing for it, and the
        call's record, which the caller stores in its own statement (the recorder is not used)."""
        request, record = self._open(endpoint, merchant, fields)
        started = time.perf_counter()
        result: T | GatewayError
        try:
            response = await self._loop_pool(endpoint.secure).post(
                endpoint.path, xmlcodec.encode(request), XML_HEADERS
            )
            record.http_status = response.status_code
            result = read(self._accept(response, request, record))
        except ConnectFailed as exc:
            result = GatewayUnavailable(f"cannot reach the provider: {exc}", request_sent=False)
        except NoAnswer as exc:
            # The provider may have acted on the request: the outcome is unknown.
            result = GatewayUnavailable(f"no answer from the provider: {exc}")
        except GatewayError as exc:
            result = exc
        if isinstance(result, GatewayError):
            record.error = type(result).__name__
        record.latency_ms = round((time.perf_counter() - started) * 1000)
        log_call(record)
        return result, record

    def _loop_pool(self, secure: bool) -> LoopHttpPool:
        pools = self._loop_pools.setdefault(asyncio.get_running_loop(), {})
        if secure not in pools:
            client_cert = secure and bool(self.config.cert_path)
            pools[secure] = LoopHttpPool(
                self.config.base_url,
                ssl_context=tls_context(self.config, client_cert=client_cert),
                connect_timeout=self.config.connect_timeout,
                read_timeout=self.config.read_timeout,
                max_connections=self.config.max_connections,
            )
        return pools[secure]

    def _accept(
        self, response: httpx.Response, request: dict[str, str], record: CallRecord
    ) -> dict[str, str]:
        if response.status_code >= 500:
            raise GatewayUnavailable(
                f"provider answered HTTP {response.status_code}", http_status=response.status_code
            )
        if response.status_code != 200:
            raise MalformedResponse(f"provider answered HTTP {response.status_code}")
        try:
            answer = xmlcodec.decode(response.content)
        except xmlcodec.XmlError as exc:
            raise MalformedResponse(f"provider answer is not XML: {exc}") from None
        record.response_fields = redact(answer)
        self._verify_envelope(answer, request)
        return answer

    def _verify_envelope(self, answer: dict[str, str], request: dict[str, str]) -> None:
        return_code = answer.get("return_code")
        if return_code == "FAIL":
            raise ProviderRejected(answer.get("return_msg", ""), fields=answer)
        if return_code != "SUCCESS":
            raise MalformedResponse(f"return_code is {return_code!r}")
        if not answer.get("sign"):
            raise MalformedResponse("a SUCCESS answer without a signature")
        # The provider signs its answer with the algorithm of the request.
        if not verify(answer, self.config.api_key, self.config.sign_type):
            raise SignatureInvalid("the provider's answer has an invalid signature")
        for name in ("appid", "mch_id", "sub_mch_id"):
            if name in request and answer.get(name, request[name]) != request[name]:
                raise MalformedResponse(f"the answer is for another {name}")
        if answer.get("mch_id") is None:
            raise MalformedResponse("the answer names no mch_id")
        if answer.get("result_code") not in ("SUCCESS", "FAIL"):
            raise MalformedResponse(f"result_code is {answer.get('result_code')!r}")

    # --- Endpoints --------------------------------------------------------------------------------

    def micropay(self, request: MicropayRequest) -> MicropayResult:
        return self._call(
            MICROPAY,
            request.merchant,
            _micropay_fields(request),
            lambda answer: answers.micropay(answer, request),
        )

    async def micropay_on_loop(
        self, request: MicropayRequest
    ) -> tuple[MicropayResult | GatewayError, CallRecord]:
        """micropay from the event loop; see `_call_on_loop`."""
        return await self._call_on_loop(
            MICROPAY,
            request.merchant,
            _micropay_fields(request),
            lambda answer: answers.micropay(answer, request),
        )

    def order_query(
        self, *, merchant: SubMerchant, out_trade_no: str, expected_total_fee: int | None = None
    ) -> OrderQueryResult:
        _check_number(OUT_TRADE_NO, "out_trade_no", out_trade_no)
        return self._call(
            ORDERQUERY,
            merchant,
            {"out_trade_no": out_trade_no},
            lambda answer: answers.order_query(answer, out_trade_no, expected_total_fee),
        )

    async def order_query_on_loop(
        self, *, merchant: SubMerchant, out_trade_no: str, expected_total_fee: int | None = None
    ) -> tuple[OrderQueryResult | GatewayError, CallRecord]:
        """order_query from the event loop; see `_call_on_loop`."""
        _check_number(OUT_TRADE_NO, "out_trade_no", out_trade_no)
        return await self._call_on_loop(
            ORDERQUERY,
            merchant,
            {"out_trade_no": out_trade_no},
            lambda answer: answers.order_query(answer, out_trade_no, expected_total_fee),
        )

    def reverse(self, *, merchant: SubMerchant, out_trade_no: str) -> ReverseResult:
        _check_number(OUT_TRADE_NO, "out_trade_no", out_trade_no)
        return self._call(REVERSE, merchant, {"out_trade_no": out_trade_no}, answers.reverse)

    def native_order(self, request: NativeOrderRequest) -> NativeOrderResult:
        _check_number(OUT_TRADE_NO, "out_trade_no", request.out_trade_no)
        if request.total_fee <= 0:
            raise ValueError("total_fee must be positive")
        notify_url = request.notify_url or self.config.notify_url
        if not notify_url:
            raise ValueError("a native order needs a notify_url (WECHATPAY_NOTIFY_URL)")
        return self._call(
            UNIFIEDORDER,
            request.merchant,
            {
                "body": request.body,
                "out_trade_no": request.out_trade_no,
                "total_fee": request.total_fee,
                "fee_type": "CNY",
                "spbill_create_ip": request.spbill_create_ip,
                "notify_url": notify_url,
                "trade_type": "NATIVE",
                "product_id": request.product_id,
                "device_info": request.device_info,
                "attach": request.attach,
                "time_expire": to_provider(request.time_expire) if request.time_expire else None,
            },
            answers.native_order,
        )

    def close_order(self, *, merchant: SubMerchant, out_trade_no: str) -> CloseOrderResult:
        _check_number(OUT_TRADE_NO, "out_trade_no", out_trade_no)
        return self._call(
            CLOSEORDER,
            merchant,
            {"out_trade_no": out_trade_no},
            lambda answer: CloseOrderResult(**answers.common(answer)),
        )

    def refund(self, request: RefundRequest) -> RefundResult:
        _check_number(OUT_TRADE_NO, "out_trade_no", request.out_trade_no)
        _check_number(OUT_REFUND_NO, "out_refund_no", request.out_refund_no)
        if not 0 < request.refund_fee <= request.total_fee:
            raise ValueError("refund_fee must be positive and at most total_fee")
        return self._call(
            REFUND,
            request.merchant,
            {
                "out_trade_no": request.out_trade_no,
                "out_refund_no": request.out_refund_no,
                "total_fee": request.total_fee,
                "refund_fee": request.refund_fee,
                "refund_fee_type": "CNY",
                "refund_desc": request.refund_desc,
                "notify_url": request.notify_url,
            },
            lambda answer: answers.refund(answer, request),
        )

    def refund_query(
        self,
        *,
        merchant: SubMerchant,
        out_refund_no: str | None = None,
        out_trade_no: str | None = None,
        offset: int | None = None,
    ) -> RefundQueryResult:
        if not (out_refund_no or out_trade_no):
            raise ValueError("refund_query needs out_refund_no or out_trade_no")
        return self._call(
            REFUNDQUERY,
            merchant,
            {"out_refund_no": out_refund_no, "out_trade_no": out_trade_no, "offset": offset},
            answers.refund_query,
        )

    def download_bill(
        self,
        *,
        bill_date: date,
        bill_type: BillType = BillType.ALL,
        merchant: SubMerchant | None = None,
        gzip: bool = False,
    ) -> Bill:
        """Download and parse a day's trade bill (Beijing date); the body is not signed."""
        return self._exchange(
            DOWNLOADBILL,
            merchant,
            {
                "bill_date": bill_date.strftime("%Y%m%d"),
                "bill_type": bill_type.value,
                "tar_type": "GZIP" if gzip else None,
            },
            lambda response, _, record: bills.bill_from_response(
                response, bill_date, bill_type, record
            ),
        )

    # --- Notifications ----------------------------------------------------------------------------

    def parse_notification(self, body: bytes) -> PaymentNotification:
        return notifications.parse(body, self.config)

    def notification_ack(self, *, ok: bool = True, message: str = "OK") -> bytes:
        return notifications.ack(ok=ok, message=message)
