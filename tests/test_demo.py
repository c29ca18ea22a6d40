from io import StringIO

from django.contrib.auth import authenticate
from django.core.management import call_command

from billing.models import Client, Invoice
from orders.models import Order, Product


def _load():
    out = StringIO()
    call_command("load_demo", stdout=out)
    return out.getvalue()


def _password_for(output, username):
    line = next(line for line in output.splitlines() if f"user: {username} " in line)
    return line.rsplit("password: ", 1)[1].strip()


def test_load_demo_creates_a_catalog_clients_orders_and_an_admin_it_can_log_in_as(db):
    output = _load()
    assert Product.objects.filter(type="domain").exists() and Product.objects.count() >= 3
    assert Client.objects.count() == 3 and all(c.user_id for c in Client.objects.all())
    statuses = set(Order.objects.values_list("status", flat=True))
    assert {"pending", "active"} <= statuses
    assert Invoice.objects.count() == Order.objects.count()
    admin = authenticate(username="admin", password=_password_for(output, "admin"))
    assert admin is not None and admin.is_superuser
    assert authenticate(username="alice@example.com", password=_password_for(output, "alice@example.com"))


def test_load_demo_runs_again_without_duplicating_and_prints_working_passwords(db):
    _load()
    orders = Order.objects.count()
    output = _load()
    assert Order.objects.count() == orders and Client.objects.count() == 3
    assert authenticate(username="admin", password=_password_for(output, "admin"))
