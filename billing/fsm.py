"""Applying a state-machine transition from a service: refuse with a clear message instead of a traceback."""

from typing import Any

from django.core.exceptions import ValidationError
from django_fsm import can_proceed


def apply_transition(bound_transition: Any, *, label: str, **kwargs: Any) -> None:
    """Call `bound_transition` if the instance's current status allows it, else raise ValidationError.

    `label` names the action for the message, e.g. "accepted" in "Order 123 is Active and cannot be accepted."
    """
    instance = bound_transition.__self__
    if not can_proceed(bound_transition):
        kind = instance._meta.verbose_name.capitalize()
        name = str(instance)
        # "Invoice INV-1 is Paid", not "Invoice Invoice INV-1 is Paid", for models whose str() names the kind.
        subject = name if name.lower().startswith(kind.lower()) else f"{kind} {name}"
        raise ValidationError(
            f"{subject} is {instance.get_status_display()} and cannot be {label}.", code="transition_refused"
        )
    bound_transition(**kwargs)
