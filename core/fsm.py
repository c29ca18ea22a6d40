"""Applying a state-machine transition from a service: refuse with a clear message instead of a traceback."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
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


_UNSET = object()


def transition_in_bulk(queryset: QuerySet, transition_name: str, **kwargs: Any) -> list[int]:
    """Apply the FSM transition `transition_name` to every row of `queryset` whose status allows it, in one
    UPDATE per status it starts from; returns the ids moved. The caller holds the rows' locks.

    The transition itself decides what is written: it is run once per source status, on a stand-in instance in
    that status, and the fields it changed (the status and whatever its body sets) are written to the rows in
    that status. So it serves transitions whose effect is the same for every row (no conditions, a body that
    reads only its arguments): one with conditions is refused, as those are checked row by row."""
    model = queryset.model
    method = getattr(model, transition_name)
    meta = method._django_fsm
    field = meta.field if not isinstance(meta.field, str) else model._meta.get_field(meta.field)
    if any(t.conditions for t in meta.transitions.values()):
        raise ValueError(f"{model.__name__}.{transition_name} has conditions: apply it to each row instead.")
    by_status: dict[str, list[int]] = {}
    for pk, status in queryset.order_by().values_list("pk", field.attname):
        if meta.has_transition(status):
            by_status.setdefault(status, []).append(pk)
    moved: list[int] = []
    for status, ids in by_status.items():
        stand_in = model(**{field.attname: status})
        # Every other field starts as a marker, so whatever the transition assigns is seen, even a value equal to
        # the field's default (unsuspend sets the reason back to "").
        others = [f.attname for f in model._meta.concrete_fields if f.attname != field.attname and not f.primary_key]
        for name in others:
            stand_in.__dict__[name] = _UNSET
        getattr(stand_in, transition_name)(**kwargs)
        changes = {field.attname: getattr(stand_in, field.attname)}
        changes |= {name: stand_in.__dict__[name] for name in others if stand_in.__dict__[name] is not _UNSET}
        model.objects.filter(pk__any=ids, **{field.attname: status}).update(**changes)
        moved += ids
    return moved
