"""Root URLconf of `manage.py sandbox_provider`: the provider's paths at the root."""

from django.urls import include, path

urlpatterns = [path("", include("payments.sandbox.urls"))]
