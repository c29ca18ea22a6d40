"""Applying a state-machine transition from a service: refuse with a clear message instead of a traceback."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Field, Model, QuerySet
from django_fsm import ANY_OTHER_STATE, ANY_STATE, ConcurrentTransition, can_proceed


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


BULK = "bulk"  # the marker in a transition's `custom` dict that lets transition_in_bulk apply it


class BulkTransitionRefused(ValueError):
    """transition_in_bulk was asked for a transition it cannot apply to many rows at once."""


class StandInRead(AttributeError):
    """A transition applied in bulk read a field of the row: the stand-in it runs on was not given one."""


class _StandIn:
    """What a transition's body sees when transition_in_bulk runs it: the model's class attributes (its enums and
    constants) and what the body itself assigns. Reading a field it was not given raises StandInRead, so a body
    that depends on the row (and would write the same value to every row) cannot be applied in bulk."""

    def __init__(self, model: type[Model], transition_name: str) -> None:
        columns: dict[str, str] = {}
        for f in model._meta.concrete_fields:
            columns[f.attname] = f.attname
            columns.setdefault(f.name, f.attname if not f.is_relation else "")
        object.__setattr__(self, "_model", model)
        object.__setattr__(self, "_transition", transition_name)
        object.__setattr__(self, "_columns", columns)
        object.__setattr__(self, "_written", {})

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("__"):  # what Python itself asks of any object (its class, its repr)
            return object.__getattribute__(self, name)
        written = object.__getattribute__(self, "_written")
        if name in written:
            return written[name]
        model = object.__getattribute__(self, "_model")
        transition = object.__getattribute__(self, "_transition")
        if name in object.__getattribute__(self, "_columns") or name in ("pk", "id") or name.startswith("_"):
            raise StandInRead(
                f"{model.__name__}.{transition} reads {name!r}, which transition_in_bulk does not give it: a "
                "transition applied in bulk may read only its arguments. Apply it to each row instead."
            )
        value = getattr(model, name)  # a class attribute: an enum, a constant
        if callable(value) and not isinstance(value, type):
            raise StandInRead(f"{model.__name__}.{transition} calls {name}(), which a stand-in row cannot run.")
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        model = object.__getattribute__(self, "_model")
        column = object.__getattribute__(self, "_columns").get(name)
        if not column:
            raise StandInRead(
                f"{model.__name__}.{object.__getattribute__(self, '_transition')} sets {name!r}, "
                "which is not a column transition_in_bulk can write."
            )
        object.__getattribute__(self, "_written")[column] = value


def _bulk_transitions(model: type[Model], transition_name: str) -> tuple[Field, dict[str, Any]]:
    """The status field and, per source status, the transition `transition_name` of `model`; refused unless every
    one of them is marked for bulk use and has no conditions and a fixed target."""
    method = getattr(model, transition_name, None)
    meta = getattr(method, "_django_fsm", None)
    if meta is None:
        raise BulkTransitionRefused(f"{model.__name__}.{transition_name} is not an FSM transition.")
    field = meta.field if not isinstance(meta.field, str) else model._meta.get_field(meta.field)
    for source, transition in meta.transitions.items():
        if source in (ANY_STATE, ANY_OTHER_STATE):
            raise BulkTransitionRefused(
                f"{model.__name__}.{transition_name} starts from any status: apply it to each row instead."
            )
        if not transition.custom.get(BULK):
            raise BulkTransitionRefused(
                f"{model.__name__}.{transition_name} is not marked for bulk use: mark it "
                f'@transition(..., custom={{"{BULK}": True}}) once its body reads only its arguments, or apply '
                "it to each row."
            )
        if transition.conditions:
            raise BulkTransitionRefused(
                f"{model.__name__}.{transition_name} has conditions: apply it to each row instead."
            )
        if transition.target is None or hasattr(transition.target, "get_state"):
            raise BulkTransitionRefused(
                f"{model.__name__}.{transition_name} has no fixed target: apply it to each row instead."
            )
    return field, meta.transitions


def _changes_from(model: type[Model], transition_name: str, transition: Any, kwargs: dict[str, Any]) -> dict:
    """The columns the transition's body sets, run once on a stand-in."""
    stand_in = _StandIn(model, transition_name)
    transition.method(stand_in, **kwargs)
    return dict(object.__getattribute__(stand_in, "_written"))


def transition_in_bulk(queryset: QuerySet, transition_name: str, **kwargs: Any) -> list[int]:
    """Apply the FSM transition `transition_name` to every row of `queryset` whose status allows it, in one
    UPDATE per status it starts from; returns the ids moved. The caller holds the rows' locks.

    Only a transition marked `custom={"bulk": True}` (for every source) is applied: its effect must be the same
    for every row (no conditions, a fixed target, a body that reads only its arguments). Its body runs once per
    source status on a stand-in that has no field of the row: reading one raises StandInRead. What it sets,
    and the target status, are written to the rows in that status. If an UPDATE moves fewer rows than were read
    in that status (another transaction changed them: the caller did not lock them), ConcurrentTransition is
    raised: the caller's transaction (the one holding the locks) then undoes what the earlier UPDATEs wrote.
    No savepoint of its own, so a batch costs its read and one UPDATE per source status."""
    model = queryset.model
    field, transitions = _bulk_transitions(model, transition_name)
    by_status: dict[str, list[int]] = {}
    for pk, status in queryset.order_by().values_list("pk", field.attname):
        if status in transitions:
            by_status.setdefault(status, []).append(pk)
    moved: list[int] = []
    for status, ids in by_status.items():
        transition = transitions[status]
        changes = _changes_from(model, transition_name, transition, kwargs)
        changes[field.attname] = transition.target
        updated = model.objects.filter(pk__any=ids, **{field.attname: status}).update(**changes)
        if updated != len(ids):
            raise ConcurrentTransition(
                f"{model.__name__}.{transition_name}: {len(ids) - updated} of {len(ids)} rows in status "
                f"{status!r} changed before the UPDATE; lock the rows before moving them in bulk."
            )
        moved += ids
    return moved
