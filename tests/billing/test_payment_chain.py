"""The payment chain runs one way: services check and record, gateways answer with typed outcomes, credit is the
ledger's. And an invoice paid with credit can be refunded from the admin, back to the client's credit."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from billing.gateways import GATEWAY_CLASSES, EventIgnored, PaymentConfirmed, gateway_for
from billing.models import GatewayConfig, GatewayEvent, Invoice, InvoiceItem, Transaction
from billing.selectors import refundable_transactions
from billing.services import (
    InvoiceLine,
    credit_add,
    credit_apply,
    invoice_create,
    payment_record,
    payment_start,
    sandbox_payment_charge,
)
from tests.factories import ClientFactory

D = Decimal


def _invoice(client, amount="10.00") -> Invoice:
    line = InvoiceLine(kind=InvoiceItem.Kind.MANUAL, description="Hosting", amount=D(amount))
    return invoice_create(client=client, lines=[line], actor=None)


@pytest.fixture
def credit_paid(customer) -> Invoice:
    credit_add(client_id=customer.pk, amount=D("25.00"), reason="goodwill", actor=None)
    invoice = _invoice(customer)
    credit_apply(invoice_id=invoice.pk, actor=None)
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and invoice.amount_paid == 0
    return invoice


# --- credit is the ledger's ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_no_gateway_row_is_left_for_account_credit(admin_client):
    """The row 0003 seeded for the credit gateway is removed, so the admin's gateway list shows no row that
    configures nothing; every seeded row left has its gateway."""
    assert set(GatewayConfig.objects.values_list("code", flat=True)) == {"banktransfer", "stripe", "sandbox"}
    assert set(GatewayConfig.objects.values_list("code", flat=True)) <= set(GATEWAY_CLASSES)
    page = admin_client.get(reverse("admin:billing_gatewayconfig_changelist")).content.decode()
    assert "No gateway implements" not in page


def test_account_credit_is_not_a_gateway(customer, client):
    assert "credit" not in GATEWAY_CLASSES
    credit_add(client_id=customer.pk, amount=D("25.00"), reason="goodwill", actor=None)
    invoice = _invoice(customer)
    client.force_login(customer.user)
    client.post(reverse("clientarea:invoice_pay", args=[invoice.pk, "credit"]))  # no gateway takes it
    invoice.refresh_from_db()
    assert (invoice.status, invoice.credit_applied) == (Invoice.Status.UNPAID, D("0.00"))


# --- payment_start checks before a gateway is asked -----------------------------------------------------------


def test_payment_start_refuses_another_clients_invoice_and_an_amount_over_the_balance(customer, usd):
    invoice = _invoice(customer)
    other = ClientFactory(currency=usd)
    with pytest.raises(ValidationError, match=f"There is no invoice #{invoice.pk}"):
        payment_start(
            invoice_id=invoice.pk,
            client_id=other.pk,
            gateway_code="banktransfer",
            amount=D("10.00"),
            return_url="",
            cancel_url="",
            actor=None,
        )
    with pytest.raises(ValidationError, match=r"more than the \$10.00 due"):
        payment_start(
            invoice_id=invoice.pk,
            gateway_code="banktransfer",
            amount=D("10.01"),
            return_url="",
            cancel_url="",
            actor=None,
        )


def test_the_sandbox_charges_only_what_an_invoice_can_take(customer, settings):
    settings.PORTAL_SANDBOX_GATEWAY = True
    invoice = _invoice(customer)
    payment_record(invoice_id=invoice.pk, amount=D("10.00"), gateway="banktransfer", actor=None)
    with pytest.raises(ValidationError, match="is Paid with nothing to pay"):
        sandbox_payment_charge(invoice_id=invoice.pk, client_id=customer.pk, approve=True, actor=None)
    assert not GatewayEvent.objects.exists()


# --- gateways read events; services record them ----------------------------------------------------------------


def test_gateways_read_events_into_typed_outcomes(db):
    sandbox = gateway_for("sandbox")
    event = GatewayEvent(
        gateway="sandbox",
        event_id="e1",
        event_type="charge.succeeded",
        payload={"charge_id": "ch1", "invoice_id": 7, "amount_minor": 1000, "currency": "USD"},
    )
    assert sandbox.read_event(event) == PaymentConfirmed(
        invoice_id=7, amount_minor=1000, currency_code="USD", gateway_transaction_id="ch1"
    )
    other = GatewayEvent(gateway="stripe", event_id="e2", event_type="customer.created", payload={})
    assert gateway_for("stripe").read_event(other) == EventIgnored("customer.created")
    assert GatewayEvent.objects.count() == 0 and Transaction.objects.count() == 0  # reading records nothing


# --- refunds of credit-paid invoices ---------------------------------------------------------------------------


def test_a_credit_paid_invoice_offers_its_credit_application_for_refund(credit_paid):
    [applied] = refundable_transactions(invoice=credit_paid)
    assert applied.kind == Transaction.Kind.CREDIT_APPLIED


def test_the_admin_refunds_a_credit_paid_invoice_back_to_credit(admin_client, customer, credit_paid):
    page = admin_client.get(reverse("admin:billing_invoice_change", args=[credit_paid.pk])).content.decode()
    refund_url = reverse("admin:billing_invoice_action", args=[credit_paid.pk, "refund"])
    assert refund_url in page  # the button is offered
    [applied] = refundable_transactions(invoice=credit_paid)
    form = admin_client.get(refund_url).content.decode()
    assert "credit applied: $10.00 ($10.00 refundable to the client&#x27;s credit)" in form
    assert 'value="credit" required id="id_method_1" checked' in form  # where credit goes back to

    response = admin_client.post(refund_url, {"payment": applied.pk, "amount": "10.00", "method": "credit"})

    assert response.status_code == 302
    credit_paid.refresh_from_db()
    customer.refresh_from_db()
    assert credit_paid.status == Invoice.Status.REFUNDED
    assert customer.credit_balance == D("25.00")  # the credit came back where it came from
    refund = Transaction.objects.get(kind=Transaction.Kind.REFUND)
    assert (refund.refund_of_id, refund.gateway, refund.credit_change) == (applied.pk, "credit", D("10.00"))


def test_a_credit_paid_invoice_cannot_be_refunded_through_a_gateway(admin_client, customer, credit_paid):
    [applied] = refundable_transactions(invoice=credit_paid)
    refund_url = reverse("admin:billing_invoice_action", args=[credit_paid.pk, "refund"])
    response = admin_client.post(refund_url, {"payment": applied.pk, "amount": "10.00", "method": "gateway"})
    assert response.status_code == 200
    assert "can only be refunded to the client&#x27;s credit" in response.content.decode()
    credit_paid.refresh_from_db()
    assert credit_paid.status == Invoice.Status.PAID


def test_a_fully_refunded_invoice_offers_no_refund(admin_client, credit_paid):
    [applied] = refundable_transactions(invoice=credit_paid)
    refund_url = reverse("admin:billing_invoice_action", args=[credit_paid.pk, "refund"])
    admin_client.post(refund_url, {"payment": applied.pk, "amount": "10.00", "method": "credit"})
    credit_paid.refresh_from_db()
    assert refundable_transactions(invoice=credit_paid) == []
    page = admin_client.get(reverse("admin:billing_invoice_change", args=[credit_paid.pk])).content.decode()
    assert refund_url not in page
