from rest_framework.routers import SimpleRouter

from payments import api

router = SimpleRouter()
router.register("payments", api.PaymentViewSet, basename="payment")
router.register("refunds", api.RefundViewSet, basename="refund")

urlpatterns = router.urls
