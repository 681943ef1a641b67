"""The provider's notification endpoint: public, no session, answered in the provider's XML."""

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from payments.services.notifications import notification_receive


@csrf_exempt  # the provider cannot send a CSRF token; the body's signature authenticates it
@require_POST
def wechatpay_notify(request):
    ack = notification_receive(request.body)
    return HttpResponse(ack.body, status=ack.status, content_type="text/xml; charset=utf-8")
