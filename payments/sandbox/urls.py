"""The sandbox's routes, relative to its base URL.

Mounted at /sandbox/wechatpay/ in development and test (config/urls.py), and at the root by
`manage.py sandbox_provider`, so an SDK's base URL is the only thing that changes.
"""

from django.conf import settings
from django.urls import URLPattern, URLResolver, include, path

from payments.sandbox import views

PROVIDER_PATHS = {
    "pay/micropay": "micropay",
    "pay/orderquery": "orderquery",
    "secapi/pay/reverse": "reverse",
    "pay/unifiedorder": "unifiedorder",
    "pay/closeorder": "closeorder",
    "secapi/pay/refund": "refund",
    "pay/refundquery": "refundquery",
    "pay/downloadbill": "downloadbill",
}

app_name = "sandbox_wechatpay"
urlpatterns = [
    *(path(route, views.provider_endpoint(name)) for route, name in PROVIDER_PATHS.items()),
    # The older SDK sandbox prefix, so SDKs in sandbox mode work too (reference §8.1).
    *(
        path(f"sandboxnew/{route}", views.provider_endpoint(name))
        for route, name in PROVIDER_PATHS.items()
    ),
    path("sandboxnew/pay/refund", views.provider_endpoint("refund")),
    path("sandboxnew/pay/getsignkey", views.provider_endpoint("getsignkey")),
    path("payitil/report", views.provider_endpoint("report")),
    path("sandboxnew/payitil/report", views.provider_endpoint("report")),
    path("control/scan", views.scan, name="scan"),
    path("control/refund-outcome", views.refund_outcome, name="refund-outcome"),
    path("control/bill-adjustments", views.bill_adjustments, name="bill-adjustments"),
]


def mount() -> list[URLPattern | URLResolver]:
    """The platform's mount point, present only where the sandbox is enabled."""
    if not settings.SANDBOX_WECHATPAY_ENABLED:
        return []
    return [path("sandbox/wechatpay/", include("payments.sandbox.urls"))]
