from django.urls import path
from rest_framework.routers import SimpleRouter

from terminals.api import views

router = SimpleRouter()
router.register("terminals", views.TerminalViewSet, basename="terminal")
router.register("terminal-batches", views.RegistrationBatchViewSet, basename="terminal-batch")

urlpatterns = [
    path("terminal-activations/", views.ActivationView.as_view(), name="terminal-activation"),
    *router.urls,
]
