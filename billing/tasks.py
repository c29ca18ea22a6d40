"""Thin Celery tasks: take ids, call one service."""

from celery import shared_task

from billing.gateways import GatewayError
from billing.services.gateway_events import APPLY_TASK, gateway_event_apply


@shared_task(
    name=APPLY_TASK,
    autoretry_for=(GatewayError,),
    retry_backoff=30,
    retry_backoff_max=3600,
    retry_jitter=True,
    max_retries=8,
)
def gateway_event_apply_task(event_pk: int) -> str:
    return gateway_event_apply(event_pk=event_pk).status
