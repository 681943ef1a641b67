"""Terminal websocket protocol v1: every frame, both ways, as a pydantic model.

docs/terminal-protocol.md is the human-readable form of this module; keep them in step.
Device frames are validated against `DEVICE_FRAME`; platform frames are built from the models
below, so nothing reaches a device that the document does not describe.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 16 * 1024
MessageId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
Serial = Annotated[str, Field(pattern=r"^WST01-[0-9A-Z]{4,12}$")]
Link = Literal["usb", "otg", "bluetooth"]
HostOs = Literal["linux", "windows", "android"]
ScreenState = Literal["on", "off", "error"]


class Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    v: Literal[1] = 1


# --- Authentication ------------------------------------------------------------------------------


class Challenge(Frame):
    type: Literal["challenge"] = "challenge"
    nonce: str
    server_time: float
    auth_timeout: int


class Auth(Frame):
    type: Literal["auth"]
    serial: Serial
    nonce: Annotated[str, Field(min_length=16, max_length=128)]
    proof: Annotated[str, Field(min_length=64, max_length=64, pattern=r"^[0-9a-f]{64}$")]


# --- Device → platform ---------------------------------------------------------------------------


class Screens(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    merchant: ScreenState = "on"
    customer: ScreenState = "on"


class Hello(Frame):
    type: Literal["hello"]
    firmware: Annotated[str, Field(min_length=1, max_length=32)]
    model: Literal["WST01"]
    link: Link
    host_os: HostOs
    screens: Screens = Screens()


class Heartbeat(Frame):
    type: Literal["heartbeat"]
    seq: int = Field(ge=0)
    sent_at: float | None = None


class Event(Frame):
    type: Literal["event"]
    id: MessageId
    kind: Literal["link_changed", "host_changed", "screen_changed", "error"]
    link: Link | None = None
    host_os: HostOs | None = None
    screens: Screens | None = None
    code: Annotated[str, Field(max_length=64)] | None = None
    message: Annotated[str, Field(max_length=500)] | None = None


class Ack(Frame):
    type: Literal["ack"]
    ref: MessageId
    status: Literal["ok", "failed"] = "ok"
    error: Annotated[str, Field(max_length=500)] | None = None
    result: dict[str, Any] | None = None


class Scan(Frame):
    """A customer's payment code, read by the scanner; handled by the app that registers `scan`."""

    type: Literal["scan"]
    id: MessageId
    code: Annotated[str, Field(min_length=10, max_length=128)]
    amount_fen: int | None = Field(default=None, gt=0)


class UpdateStatus(Frame):
    """Progress of a firmware job; handled by the app that registers `update_status`."""

    type: Literal["update_status"]
    id: MessageId
    job: MessageId
    state: Literal[
        "accepted", "downloading", "downloaded", "installing", "rebooting", "failed", "rejected"
    ]
    progress: int | None = Field(default=None, ge=0, le=100)
    version: Annotated[str, Field(max_length=32)] | None = None
    error: Annotated[str, Field(max_length=500)] | None = None


DeviceFrame = Annotated[
    Auth | Hello | Heartbeat | Event | Ack | Scan | UpdateStatus, Field(discriminator="type")
]
DEVICE_FRAME: TypeAdapter = TypeAdapter(DeviceFrame)
DEVICE_TYPES = frozenset(("auth", "hello", "heartbeat", "event", "ack", "scan", "update_status"))

# --- Platform → device ---------------------------------------------------------------------------


class Welcome(Frame):
    type: Literal["welcome"] = "welcome"
    terminal_id: int
    serial: str
    server_time: float
    heartbeat_interval: int
    heartbeat_grace: int
    config: dict[str, Any]


class HeartbeatAck(Frame):
    type: Literal["heartbeat_ack"] = "heartbeat_ack"
    seq: int
    server_time: float


class Received(Frame):
    """The platform has a device message (event, scan, update_status) and will not need it again."""

    type: Literal["received"] = "received"
    ref: str


class Error(Frame):
    type: Literal["error"] = "error"
    code: str
    message: str
    ref: str | None = None


# Command payloads: one model per command type. The envelope adds id, issued_at and expires_at.


class DisplayPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    screen: Literal["customer", "merchant", "both"] = "customer"
    text: Annotated[str, Field(max_length=200)] = ""
    amount_fen: int | None = Field(default=None, ge=0)
    qr: Annotated[str, Field(max_length=512)] | None = None
    timeout_s: int = Field(default=60, ge=1, le=3600)


class ClearPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    screen: Literal["customer", "merchant", "both"] = "both"


class RebootPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    reason: Annotated[str, Field(max_length=200)] = ""


class ConfigPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    heartbeat_interval: int | None = Field(default=None, ge=5, le=3600)
    brightness: int | None = Field(default=None, ge=0, le=100)
    volume: int | None = Field(default=None, ge=0, le=100)
    language: Literal["zh-CN", "en"] | None = None


class RotateSecretPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PingPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    note: Annotated[str, Field(max_length=100)] = ""


class PaymentResultPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    payment_id: Annotated[str, Field(max_length=64)]
    status: Literal["succeeded", "failed", "cancelled", "pending"]
    amount_fen: int = Field(ge=0)
    message: Annotated[str, Field(max_length=200)] = ""
    scan_ref: MessageId | None = None


class FirmwareOfferPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    job: MessageId
    version: Annotated[str, Field(max_length=32)]
    url: Annotated[str, Field(max_length=1000)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    size: int = Field(gt=0)
    signature: Annotated[str, Field(max_length=1024)]
    install: Literal["now", "window"] = "window"
    window_open: bool = False


COMMAND_PAYLOADS: dict[str, type[BaseModel]] = {
    "display": DisplayPayload,
    "clear": ClearPayload,
    "reboot": RebootPayload,
    "config": ConfigPayload,
    "rotate_secret": RotateSecretPayload,
    "ping": PingPayload,
    "payment_result": PaymentResultPayload,
    "firmware_offer": FirmwareOfferPayload,
}
COMMAND_KINDS = tuple(COMMAND_PAYLOADS)


class Command(Frame):
    type: Literal[
        "display",
        "clear",
        "reboot",
        "config",
        "rotate_secret",
        "ping",
        "payment_result",
        "firmware_offer",
    ]
    id: str
    issued_at: datetime
    expires_at: datetime
    payload: dict[str, Any]


def validate_command_payload(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Return the payload in canonical form; raise KeyError or pydantic.ValidationError."""
    model = COMMAND_PAYLOADS[kind]
    return model.model_validate(payload).model_dump(mode="json", exclude_none=True)


def dump(frame: BaseModel) -> str:
    return frame.model_dump_json(exclude_none=True)


# --- Handlers registered by other apps -----------------------------------------------------------


@dataclass(frozen=True)
class DeviceIdentity:
    """Who sent a frame: derived from the credential, never from the frame's content."""

    terminal_id: int
    serial: str
    enterprise_id: int | None
    merchant_id: int | None
    store_id: int | None


Handler = Callable[[DeviceIdentity, BaseModel], None]
_handlers: dict[str, Handler] = {}
REGISTRABLE_TYPES = frozenset(("scan", "update_status"))


def register_handler(message_type: str, handler: Handler) -> None:
    """Route device frames of `message_type` (`scan`, `update_status`) to another app's handler.

    Call it from the owning app's `AppConfig.ready()`. The handler is a plain synchronous function
    `handler(identity, frame)`; it runs in a worker thread (it may use the ORM) once per message id,
    after which the device gets `received`. An exception sends the device an `error` frame with
    code `handler_failed` and the same ref, and the device retries with the same id.
    """
    if message_type not in REGISTRABLE_TYPES:
        raise ValueError(f"no handler can be registered for {message_type!r}")
    if message_type in _handlers and _handlers[message_type] is not handler:
        raise ValueError(f"a handler for {message_type!r} is already registered")
    _handlers[message_type] = handler


def unregister_handler(message_type: str) -> None:
    _handlers.pop(message_type, None)


def handler_for(message_type: str) -> Handler | None:
    return _handlers.get(message_type)


# --- Close codes ---------------------------------------------------------------------------------


class CloseCode:
    """Websocket close codes sent by the platform; 4000–4099 are this protocol's own."""

    PROTOCOL_ERROR = 4000  # repeated malformed / unknown / out-of-order frames
    AUTH_TIMEOUT = 4001  # no valid `auth` frame within auth_timeout seconds
    CHALLENGE_MISMATCH = 4002  # the auth frame answers another connection's challenge (replay)
    BAD_PROOF = 4003  # wrong secret
    UNKNOWN_DEVICE = 4004  # no terminal with this serial
    NO_CREDENTIALS = 4005  # never activated, or its credentials were revoked
    NOT_ASSIGNED = 4006  # in stock or allocated: not assigned to a store
    SUSPENDED = 4007  # suspended by its enterprise or ops
    RETIRED = 4008  # retired or reported lost
    REPLACED = 4009  # the same device connected again; this older connection is closed
    RATE_LIMITED = 4010  # message flood, or too many connection attempts
    FRAME_TOO_LARGE = 4011  # a frame over MAX_FRAME_BYTES
    UNSUPPORTED_VERSION = 4012  # a frame with v other than 1
    SERVER_ERROR = 1011
