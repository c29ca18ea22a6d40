"""The catalog declares every event's payload fields, and nothing emits an event or a field it lacks.

Two guards, because neither alone sees everything: emit(), emit_many(), emit_select() and pre() refuse an unknown
event or field at run time, so every emit the suite runs is checked with the values it really sends (dynamic names
included: `emit(event, ...)`); and the source scan below reads every emit call in the apps' code, so an emit no test
runs is checked too, as far as its names and fields are written out in the call (literals, `a if c else b`, and
`**name` of a dict literal assigned in the same function)."""

import ast
from pathlib import Path

import pytest
from django.conf import settings
from django.db.models import F

from notifications.bus import emit, emit_many, emit_select
from notifications.events import CATALOG, EVENTS, UnknownEvent, event_description, event_fields, payload_check
from notifications.hooks import pre
from provisioning.models import Service

APPS = ["config", "core", "notifications", "automation", "billing", "provisioning", "orders", "fraud"]
EMITTERS = {"emit": 0, "pre": 0, "emit_many": 1, "emit_select": 2}  # name: position of the payload argument


def test_every_event_declares_a_description_and_plain_fields():
    assert set(EVENTS) == set(CATALOG)
    for name, spec in CATALOG.items():
        assert spec.description and EVENTS[name] == event_description(name) == spec.description
        assert spec.fields, f"{name} declares no payload field"
        assert all(field.isidentifier() for field in spec.fields)
        assert event_fields(name) == spec.fields


@pytest.mark.django_db
def test_emitting_an_unknown_field_is_refused_and_writes_nothing(customer):
    from notifications.models import Event

    with pytest.raises(UnknownEvent, match=r"does not declare the field.*invoice_number"):
        emit("InvoicePaid", invoice_id=1, client_id=1, invoice_number="X")
    with pytest.raises(UnknownEvent, match="total_due"):
        emit_many("InvoicePaid", [{"invoice_id": 1, "total_due": "1.00"}])
    with pytest.raises(UnknownEvent, match="pk"):
        emit_select("ServiceSuspended", Service.objects.all(), {"service_id": F("pk"), "pk": F("pk")})
    with pytest.raises(UnknownEvent, match="Unknown event"):
        emit("InvoicePayd", invoice_id=1)
    with pytest.raises(UnknownEvent, match="cart_total"):
        pre("ShoppingCartValidateCheckout", client_id=1, cart_total="5")
    assert not Event.objects.exists()
    payload_check("InvoicePaid", ["invoice_id"])  # a subset of the fields is fine


def _emit_calls():
    """(file, line, event names or None when not written out, payload field names or None) of every emit call."""
    for app in APPS:
        for path in sorted((Path(settings.BASE_DIR) / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(), filename=str(path))
            for function in [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef))]:
                literals = {
                    target.id: node.value
                    for node in ast.walk(function)
                    if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)
                    for target in node.targets
                    if isinstance(target, ast.Name)
                }
                for call in ast.walk(function):
                    if function is tree or not isinstance(call, ast.Call):
                        continue
                    name = getattr(call.func, "id", None) or getattr(call.func, "attr", None)
                    if name not in EMITTERS or not call.args:
                        continue
                    yield path, call.lineno, _names(call.args[0]), _fields(call, EMITTERS[name], literals)


def _names(node):
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        body, orelse = _names(node.body), _names(node.orelse)
        return body + orelse if body is not None and orelse is not None else None
    return None


def _dict_keys(node, literals):
    if isinstance(node, ast.Name) and node.id in literals:
        node = literals[node.id]
    if isinstance(node, ast.ListComp):
        node = node.elt
    if isinstance(node, ast.List) and node.elts:
        node = node.elts[0]
    if not isinstance(node, ast.Dict):
        return None
    keys = []
    for key, value in zip(node.keys, node.values, strict=True):
        if key is None:  # {**other}
            more = _dict_keys(value, literals)
            if more is None:
                return None
            keys += more
        elif isinstance(key, ast.Constant):
            keys.append(key.value)
        else:
            return None
    return keys


def _fields(call, position, literals):
    if position == 0:
        fields = []
        for keyword in call.keywords:
            if keyword.arg is not None:
                fields.append(keyword.arg)
            elif (spread := _dict_keys(keyword.value, literals)) is not None:
                fields += spread
            else:
                return None
        return fields
    return _dict_keys(call.args[position], literals) if len(call.args) > position else None


def test_no_code_emits_an_event_or_a_field_the_catalog_lacks():
    checked = {(path, line): (names, fields) for path, line, names, fields in _emit_calls() if names is not None}
    assert len(checked) >= 40, "the scan found too few emit calls: has the way they are written changed?"
    problems = []
    for (path, line), (names, fields) in checked.items():
        for name in names:
            try:
                payload_check(name, fields or ())
            except UnknownEvent as refused:
                problems.append(f"{path.relative_to(settings.BASE_DIR)}:{line}: {refused}")
    assert problems == []
    # Every call whose fields are written out had them checked; the few that are not are checked at run time.
    assert sum(fields is None for _, fields in checked.values()) <= 3
