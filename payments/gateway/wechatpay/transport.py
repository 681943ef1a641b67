"""HTTP for the provider: pooled clients, explicit timeouts, the client certificate on /secapi/."""

import ssl

import certifi
import httpx

from payments.gateway.errors import GatewayUnavailable
from payments.gateway.wechatpay.config import WeChatPayConfig

XML_HEADERS = {"Content-Type": "text/xml; charset=utf-8"}


def tls_context(config: WeChatPayConfig, *, client_cert: bool = False) -> ssl.SSLContext:
    """Verify the provider's certificate; present ours (mutual TLS) only on the secapi paths."""
    context = ssl.create_default_context(cafile=config.ca_bundle or certifi.where())
    if client_cert:
        # Loading at startup makes a wrong path or a mismatched key fail at once, not mid-refund.
        context.load_cert_chain(config.cert_path, config.key_path)
    return context


class Transport:
    """Two pooled httpx clients: plain, and with the client certificate for the secapi paths."""

    def __init__(self, config: WeChatPayConfig, *, transport: httpx.BaseTransport | None = None):
        self.base_url = config.base_url.rstrip("/")
        timeout = httpx.Timeout(
            config.read_timeout, connect=config.connect_timeout, pool=config.connect_timeout
        )
        limits = httpx.Limits(
            max_connections=config.max_connections,
            max_keepalive_connections=min(config.max_connections, 20),
        )
        # Redirects are never followed: a redirect or a login page is not the provider's answer.
        options = {"timeout": timeout, "limits": limits, "follow_redirects": False}
        self._plain = httpx.Client(transport=transport, verify=tls_context(config), **options)
        self._secure = self._plain
        if config.cert_path:
            self._secure = httpx.Client(
                transport=transport, verify=tls_context(config, client_cert=True), **options
            )

    def post(self, path: str, body: bytes, *, secure: bool) -> httpx.Response:
        client = self._secure if secure else self._plain
        try:
            return client.post(
                self.base_url + path,
                content=body,
                headers=XML_HEADERS,
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise GatewayUnavailable(
                f"cannot reach the provider: {exc!r}", request_sent=False
            ) from exc
        except httpx.HTTPError as exc:
            # Read timeouts and dropped connections: the provider may have acted on the request.
            raise GatewayUnavailable(f"no answer from the provider: {exc!r}") from exc

    def close(self) -> None:
        self._plain.close()
        if self._secure is not self._plain:
            self._secure.close()
