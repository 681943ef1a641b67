from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from config.consumers import PingConsumer
from dashboards.consumers import DashboardConsumer
from payments.consumers import TillConsumer
from terminals.consumers import TerminalConsumer


def for_browsers(consumer):
    """Wrap a consumer for signed-in people: Origin checked against ALLOWED_HOSTS, session read."""
    return AllowedHostsOriginValidator(AuthMiddlewareStack(consumer.as_asgi()))


def websocket_application() -> URLRouter:
    """Every websocket route; device routes carry no Origin and authenticate in their handshake."""
    return URLRouter(
        [
            # Devices first: thousands of them reconnect at once after a network blip.
            path("ws/terminal/", TerminalConsumer.as_asgi()),
            path("ws/ping/", for_browsers(PingConsumer)),
            path("ws/dashboard/", for_browsers(DashboardConsumer)),
            path("ws/payments/", for_browsers(TillConsumer)),
        ]
    )
