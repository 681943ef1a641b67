"""The ASGI application: Django for HTTP, Channels for websockets.

Browser sockets pass the Origin check and the session middleware; device sockets (added by the
terminals app) authenticate themselves and carry no Origin, so they are routed apart.
"""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402 - Django must be set up first
from django.conf import settings  # noqa: E402

from config.routing import websocket_application  # noqa: E402
from payments.sandbox.asgi import mount as mount_sandbox  # noqa: E402
from payments.till_lane import TillPaymentsLane  # noqa: E402

# The sandbox provider's hot paths skip Django's request machinery (payments/sandbox/asgi.py).
django_asgi_app = mount_sandbox(django_asgi_app)

application = ProtocolTypeRouter(
    {"http": TillPaymentsLane(django_asgi_app), "websocket": websocket_application()}
)

# CPython's collector rescans every surviving object on each older-generation pass. A node holding
# thousands of device sockets spent a quarter of its CPU there during a reconnect storm, in pauses
# of up to half a second (docs/performance.md, "Terminals"). In a served process, objects built
# at startup are frozen out of collection and the young generation is collected every 50,000
# allocations, not 700; the older generations keep their default ratios (20 and 10 passes), so
# cycles left by closed connections are still collected. Test processes keep the defaults.
if settings.SHOUYIN_ENV != "test":
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)
