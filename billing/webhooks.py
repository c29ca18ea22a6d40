"""The gateway webhook endpoint: the only CSRF-exempt view, protected by each gateway's own signature check.

It verifies, stores the event once and answers 200 at once; a task applies it."""

import logging

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing.gateways import GatewayNotAvailable, WebhookRejected, gateway_for
from billing.services import gateway_event_store

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def gateway_webhook(request: HttpRequest, code: str) -> HttpResponse:
    try:
        gateway = gateway_for(code)
    except GatewayNotAvailable:
        raise Http404("No such gateway") from None
    if not gateway.supports_webhook:
        raise Http404("This gateway takes no webhooks")
    try:
        incoming = gateway.parse_webhook(body=request.body, headers=dict(request.headers))
    except WebhookRejected as rejected:
        logger.warning("%s webhook rejected from %s: %s", code, request.META.get("REMOTE_ADDR"), rejected)
        return HttpResponseBadRequest(str(rejected), content_type="text/plain")
    _event, created = gateway_event_store(gateway_code=code, incoming=incoming)
    return JsonResponse({"received": True, "duplicate": not created})
