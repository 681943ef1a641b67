"""Every API route, under /api/v1/. Each app contributes its router's URLs here."""

from django.urls import include, path

from config.api_views import WhoAmIView

urlpatterns = [
    path("me/", WhoAmIView.as_view(), name="me"),
    path("", include("tenancy.api.urls")),
    path("", include("terminals.api.urls")),
    path("", include("payments.urls")),
]
