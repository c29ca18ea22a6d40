"""A grace or redemption fee on the invoice: taxed as the renewal line it follows, shown to the client on the invoice
page and in the PDF, refused a second time by the database's key, and paid with the renewal: paying the invoice
renews the Expired domain as any paid renewal does. And the TLD's windows: set, checked and logged by tld_save and
its admin page."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from automation.scheduler import automation_run
from billing.models import Invoice, InvoiceItem, TaxRule
from billing.pdf import invoice_pdf_html
from billing.services import invoice_recalculate
from notifications.models import ActivityLog
from provisioning.models import Domain, Tld, TldFees
from provisioning.services.tlds import tld_save
from tests.factories import DomainFactory, InvoiceFactory, InvoiceItemFactory, InvoiceLineFactory, TransactionFactory

pytestmark = pytest.mark.django_db

D = Decimal
GRACE = InvoiceItem.Kind.DOMAIN_GRACE_FEE
REDEMPTION = InvoiceItem.Kind.DOMAIN_REDEMPTION_FEE


@pytest.fixture
def tld(usd):
    tld = Tld.objects.create(extension="example", registrar="manual")
    TldFees.objects.create(tld=tld, currency=usd, grace_fee=D("5.00"), redemption_fee=D("80.00"))
    return tld


def _expired_with_renewal(client, *, expiry: datetime.date, taxed: bool = False) -> tuple[Domain, Invoice]:
    """An Expired domain whose renewal (due on its expiry date) was invoiced before it expired and is unpaid."""
    domain = DomainFactory(
        client=client,
        name="late.example",
        registration_date=expiry.replace(year=expiry.year - 1),
        expiry_date=expiry,
        status=Domain.Status.EXPIRED,
    )
    invoice = InvoiceFactory(
        client=client, lines=[InvoiceLineFactory(bills=domain, taxed=taxed)], issue_date=expiry, due_date=expiry
    )
    return domain, invoice


def _fees_step(day: datetime.date):
    outcome = automation_run(today=day, only=["domain_grace_fees"], trigger="test")
    assert outcome.ok, outcome.steps[0].errors
    return outcome.steps[0]


def test_a_fee_is_taxed_as_its_renewal_line_and_the_totals_are_billings(customer, tld):
    TaxRule.objects.create(level=1, name="VAT", country=customer.country, rate=D("19"))
    expiry = datetime.date(2026, 12, 10)
    _domain, invoice = _expired_with_renewal(customer, expiry=expiry, taxed=True)

    _fees_step(expiry + datetime.timedelta(days=31))

    assert sorted(invoice.items.filter(kind__in=(GRACE, REDEMPTION)).values_list("kind", "taxed")) == [
        (GRACE, True),
        (REDEMPTION, True),
    ]
    invoice.refresh_from_db()
    assert (invoice.subtotal, invoice.tax_1, invoice.total) == (D("97.99"), D("18.62"), D("116.61"))
    recalculated = Invoice.objects.select_related("currency").get(pk=invoice.pk)
    invoice_recalculate(recalculated)
    assert (recalculated.subtotal, recalculated.tax_1, recalculated.total, recalculated.balance_due) == (
        invoice.subtotal,
        invoice.tax_1,
        invoice.total,
        invoice.balance_due,
    )


def test_the_client_sees_the_fee_on_the_invoice_page_and_in_the_pdf(client, customer, tld):
    expiry = datetime.date(2026, 12, 10)
    _domain, invoice = _expired_with_renewal(customer, expiry=expiry)
    _fees_step(expiry + datetime.timedelta(days=40))

    client.force_login(customer.user)
    page = client.get(reverse("clientarea:invoice_detail", args=[invoice.pk])).content.decode()
    pdf = invoice_pdf_html(Invoice.objects.get(pk=invoice.pk))

    for shown in (page, pdf):
        assert "Grace period fee - late.example" in shown
        assert "Redemption fee - late.example" in shown
        assert "$97.99" in shown  # 12.99 + 5.00 + 80.00


def test_a_second_fee_line_for_the_same_domain_and_period_is_refused_by_the_database(customer, tld):
    """The key the step relies on (billing_item_once_per_period): its ON CONFLICT DO NOTHING writes a fee once."""
    domain, invoice = _expired_with_renewal(customer, expiry=datetime.date(2026, 12, 10))
    for kind in (GRACE, REDEMPTION):
        InvoiceItemFactory(invoice=invoice, kind=kind, related_id=domain.pk, period_start=domain.next_due_date)
        with pytest.raises(IntegrityError), transaction.atomic():
            InvoiceItemFactory(invoice=invoice, kind=kind, related_id=domain.pk, period_start=domain.next_due_date)
    assert invoice.items.filter(kind__in=(GRACE, REDEMPTION)).count() == 2


def test_paying_the_invoice_with_its_fees_renews_the_expired_domain(customer, tld, django_capture_on_commit_callbacks):
    today = timezone.localdate()
    expiry = today - datetime.timedelta(days=35)  # in redemption: both fees
    domain, invoice = _expired_with_renewal(customer, expiry=expiry)
    _fees_step(today)
    invoice.refresh_from_db()
    assert invoice.balance_due == D("97.99")

    with django_capture_on_commit_callbacks(execute=True):  # the InvoicePaid handlers run
        TransactionFactory(invoice=invoice)

    invoice.refresh_from_db()
    domain.refresh_from_db()
    renewed_to = expiry.replace(year=expiry.year + 1)
    assert (invoice.status, invoice.amount_paid) == (Invoice.Status.PAID, D("97.99"))
    assert (domain.status, domain.expiry_date, domain.next_due_date) == (Domain.Status.ACTIVE, renewed_to, renewed_to)
    assert ActivityLog.objects.get(action="domain_renewed").message.endswith(
        "; it was Expired and is Active again; no registrar ran"
    )
    assert _fees_step(today).counts == {}  # Active and paid: nothing more


def test_past_redemption_no_fee_is_added_and_the_domain_and_invoice_are_left_as_they_are(customer, tld):
    expiry = datetime.date(2026, 12, 10)
    domain, invoice = _expired_with_renewal(customer, expiry=expiry)
    assert _fees_step(expiry + datetime.timedelta(days=61)).counts == {}
    invoice.refresh_from_db()
    domain.refresh_from_db()
    assert (invoice.status, invoice.total, domain.status) == (Invoice.Status.UNPAID, D("12.99"), Domain.Status.EXPIRED)


# --- the TLD's windows ------------------------------------------------------------------------------------------


def test_a_tld_has_30_days_of_grace_and_30_of_redemption_unless_told(usd):
    saved = tld_save(tld_id=None, fields={"extension": "shop", "registrar": "manual"}, prices=[], fees=[], actor=None)
    assert (saved.tld.grace_period_days, saved.tld.redemption_period_days) == (30, 30)

    changed = tld_save(
        tld_id=saved.tld.pk,
        fields={"grace_period_days": 40, "redemption_period_days": 0},
        prices=None,
        fees=None,
        actor=None,
    )

    assert changed.changed == ("grace_period_days", "redemption_period_days")
    tld = Tld.objects.get()
    assert (tld.grace_period_days, tld.redemption_period_days) == (40, 0)
    assert ActivityLog.objects.get(action="tld_changed").message == (
        "Changed TLD .shop: grace_period_days, redemption_period_days."
    )


@pytest.mark.parametrize("days", [-1, 366, "30", 7.5, True, None])
def test_tld_save_refuses_a_window_that_is_not_0_to_365_whole_days_and_writes_nothing(usd, days):
    tld = Tld.objects.create(extension="shop", registrar="manual")
    with pytest.raises(ValidationError) as refused:
        tld_save(tld_id=tld.pk, fields={"redemption_period_days": days}, prices=None, fees=None, actor=None)
    assert refused.value.message_dict == {
        "redemption_period_days": [f"The redemption period is a whole number of days from 0 to 365, not {days!r}."]
    }
    assert Tld.objects.get().redemption_period_days == 30
    assert not ActivityLog.objects.exists()


def test_the_database_refuses_a_window_over_a_year(usd):
    with pytest.raises(IntegrityError), transaction.atomic():
        Tld.objects.create(extension="shop", registrar="manual", grace_period_days=366)


def test_the_tld_admin_page_edits_the_windows_through_tld_save(admin_client, usd):
    tld = Tld.objects.create(extension="shop", registrar="manual")
    page = admin_client.get(reverse("admin:provisioning_tld_change", args=[tld.pk]))
    assert "grace_period_days" in page.content.decode() and "redemption_period_days" in page.content.decode()

    def post(grace: str):
        return admin_client.post(
            reverse("admin:provisioning_tld_change", args=[tld.pk]),
            {
                "extension": "shop",
                "registrar": "manual",
                "register_when": Tld.RegisterWhen.ON_ACCEPT,
                "auto_renew_default": "on",
                "epp_code_required": "on",
                "is_active": "on",
                "grace_period_days": grace,
                "redemption_period_days": "30",
                **{f"{prefix}-{key}": value for prefix in ("prices", "fees") for key, value in _empty_inline().items()},
            },
        )

    refused = post("400")
    assert refused.status_code == 200
    assert "Ensure this value is less than or equal to 365." in refused.content.decode()
    assert Tld.objects.get().grace_period_days == 30

    assert post("45").status_code == 302
    assert Tld.objects.get().grace_period_days == 45
    assert ActivityLog.objects.get(action="tld_changed").message == "Changed TLD .shop: grace_period_days."


def _empty_inline() -> dict[str, str]:
    return {"TOTAL_FORMS": "0", "INITIAL_FORMS": "0", "MIN_NUM_FORMS": "0", "MAX_NUM_FORMS": "1000"}
