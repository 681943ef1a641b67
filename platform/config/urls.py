from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config import health
from payments import views as payments_views
from payments.sandbox.urls import mount as sandbox_mount

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("config.api_urls")),
    path("", include("dashboards.urls")),
    path("payments/wechatpay/notify", payments_views.wechatpay_notify, name="wechatpay-notify"),
]
urlpatterns += sandbox_mount()  # the WeChat Pay sandbox provider, outside production


def handler404(request, exception=None):
    from django.views.defaults import page_not_found

    from config.api_errors import json_not_found

    if request.path.startswith("/api/"):
        return json_not_found(request, exception)
    return page_not_found(request, exception)


def handler500(request):
    from django.views.defaults import server_error

    from config.api_errors import json_server_error

    if request.path.startswith("/api/"):
        return json_server_error(request)
    return server_error(request)
