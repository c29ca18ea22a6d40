"""The admin writes only through services: each save of a client, an invoice, the billing settings or a gateway's
configuration is locked, checked as the domain checks it, and logged with the actor and what changed. A refusal is
a form error and changes nothing."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from billing.models import BillingSettings, Client, GatewayConfig, Invoice, InvoiceItem
from billing.services import InvoiceLine, client_update, invoice_create
from notifications.models import ActivityLog
from tests.factories import ClientFactory, CurrencyFactory, UserFactory

CLIENT_FORM_FIELDS = (
    "company_name",
    "contact_name",
    "email",
    "address_1",
    "address_2",
    "city",
    "state",
    "postcode",
    "country",
    "phone",
    "notes",
)


def _client_post(client: Client, **changes) -> dict:
    data = {name: getattr(client, name) for name in CLIENT_FORM_FIELDS}
    data.update(user=client.user_id or "", currency=client.currency_id)
    if client.tax_exempt:
        data["tax_exempt"] = "on"
    return {**data, **changes}


def _client_url(client: Client) -> str:
    return reverse("admin:billing_client_change", args=[client.pk])


def _columns(client: Client) -> dict:
    return {name: value for name, value in Client.objects.filter(pk=client.pk).values()[0].items()}


def _invoice(client, amount="10.00") -> Invoice:
    line = InvoiceLine(kind=InvoiceItem.Kind.MANUAL, description="Hosting", amount=Decimal(amount))
    return invoice_create(client=client, lines=[line], actor=None)


# --- clients ---------------------------------------------------------------------------------------------------


def test_a_client_edit_is_logged_with_the_actor_and_only_the_fields_it_changed(admin_client, admin_user, customer):
    response = admin_client.post(_client_url(customer), _client_post(customer, city="Berlin", phone="+49 30 1"))
    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.city, customer.phone) == ("Berlin", "+49 30 1")
    [entry] = ActivityLog.objects.filter(action="client_changed", subject_id=customer.pk)
    assert entry.actor == admin_user
    assert "city: (empty) → Berlin" in entry.message and "phone: (empty) → +49 30 1" in entry.message
    assert "email" not in entry.message and "country" not in entry.message


def test_a_client_save_that_changes_nothing_writes_no_activity(admin_client, customer):
    admin_client.post(_client_url(customer), _client_post(customer))
    assert not ActivityLog.objects.filter(action="client_changed").exists()


@pytest.mark.parametrize(
    ("email", "error"),
    [
        ("taken@example.com", "A login for taken@example.com already exists."),
        ("TAKEN@example.com", "A login for taken@example.com already exists."),
        ("not an email", "Enter a valid email address."),
    ],
)
def test_a_login_email_that_is_taken_or_invalid_is_refused_on_the_form(admin_client, customer, email, error):
    UserFactory(username="taken@example.com")
    before = _columns(customer)
    response = admin_client.post(_client_url(customer), _client_post(customer, email=email, city="Berlin"))
    assert response.status_code == 200  # the form again, with the error
    assert error in response.content.decode()
    assert _columns(customer) == before
    assert not ActivityLog.objects.filter(action="client_changed").exists()


def test_the_login_follows_the_client_email(admin_client, customer):
    admin_client.post(_client_url(customer), _client_post(customer, email="New.Address@example.com"))
    customer.refresh_from_db()
    customer.user.refresh_from_db()
    assert customer.email == "new.address@example.com"
    assert (customer.user.username, customer.user.email) == ("new.address@example.com", "new.address@example.com")


def test_the_currency_of_a_client_with_invoices_cannot_change(admin_client, customer):
    _invoice(customer)
    eur = CurrencyFactory(code="EUR", prefix="€")
    before = _columns(customer)
    response = admin_client.post(_client_url(customer), _client_post(customer, currency=eur.pk))
    assert response.status_code == 200
    assert "the currency of a client with a billing history cannot change" in response.content.decode()
    assert _columns(customer) == before


def test_the_currency_of_a_client_without_history_can_change(admin_client, customer):
    eur = CurrencyFactory(code="EUR", prefix="€")
    admin_client.post(_client_url(customer), _client_post(customer, currency=eur.pk))
    customer.refresh_from_db()
    assert customer.currency == eur
    assert "currency: USD → EUR" in ActivityLog.objects.get(action="client_changed").message


def test_client_update_refuses_the_balance_and_the_status(customer):
    with pytest.raises(Exception, match="cannot be changed here: credit_balance, status"):
        client_update(client_id=customer.pk, changes={"credit_balance": Decimal(5), "status": "closed"}, actor=None)


def test_adding_a_client_in_the_admin_goes_through_the_services(admin_client, admin_user, usd):
    data = {name: "" for name in CLIENT_FORM_FIELDS}
    data.update(contact_name="Ada", email="ADA@example.com", country="DE", currency=usd.pk, user="", notes="VIP")
    data.update(address_2="Floor 3", tax_exempt="on")
    response = admin_client.post(reverse("admin:billing_client_add"), data)
    assert response.status_code == 302
    client = Client.objects.get(contact_name="Ada")
    assert (client.email, client.country, client.notes) == ("ada@example.com", "DE", "VIP")
    assert (client.address_2, client.tax_exempt) == ("Floor 3", True)
    # One row for one addition: the fields beyond the contact's are created with it, not changed after it.
    logged = ActivityLog.objects.filter(client_id=client.pk)
    assert list(logged.values_list("action", "actor")) == [("client_created", admin_user.pk)]


def test_adding_a_client_in_the_admin_may_link_an_existing_login(admin_client, usd):
    login = get_user_model().objects.create_user("grace@example.com", "grace@example.com", "x")
    data = {name: "" for name in CLIENT_FORM_FIELDS}
    data.update(contact_name="Grace", email="grace@example.com", country="US", currency=usd.pk, user=login.pk)
    assert admin_client.post(reverse("admin:billing_client_add"), data).status_code == 302
    client = Client.objects.get(contact_name="Grace")
    assert client.user == login
    assert ActivityLog.objects.filter(client_id=client.pk).count() == 1


# --- invoices --------------------------------------------------------------------------------------------------


def test_an_invoice_edit_is_logged_before_and_after(admin_client, admin_user, customer):
    invoice = _invoice(customer)
    data = {"notes": "called the client"}
    for prefix in ("items", "transactions"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    response = admin_client.post(reverse("admin:billing_invoice_change", args=[invoice.pk]), data)
    assert response.status_code == 302
    [entry] = ActivityLog.objects.filter(action="invoice_changed", subject_id=invoice.pk)
    assert (entry.actor, entry.client_id) == (admin_user, customer.pk)
    assert entry.message.endswith("notes: (empty) → called the client")


# --- billing settings ------------------------------------------------------------------------------------------


def _settings_post(**changes) -> dict:
    row = BillingSettings.load()
    data = {
        "invoice_number_format": row.invoice_number_format,
        "bank_transfer_instructions": row.bank_transfer_instructions,
    }
    for flag in ("number_on_payment", "taxes_enabled", "prices_include_tax", "compound_tax", "auto_apply_credit"):
        if getattr(row, flag):
            data[flag] = "on"
    return {**data, **changes}


def test_a_billing_settings_change_is_logged_and_a_bad_number_format_refused(admin_client, admin_user, db):
    url = reverse("admin:billing_billingsettings_change", args=[BillingSettings.load().pk])
    response = admin_client.post(url, _settings_post(invoice_number_format="INV-{YEAR}"))
    assert response.status_code == 200 and "needs a {SEQ} placeholder" in response.content.decode()
    assert BillingSettings.load().invoice_number_format == "INV-{YEAR}-{SEQ:06}"
    assert not ActivityLog.objects.filter(action="billing_settings_changed").exists()

    admin_client.post(url, _settings_post(invoice_number_format="  F{YEAR}-{SEQ:04} ", auto_apply_credit="on"))
    assert BillingSettings.load().invoice_number_format == "F{YEAR}-{SEQ:04}"
    [entry] = ActivityLog.objects.filter(action="billing_settings_changed")
    assert entry.actor == admin_user
    assert "invoice number format: INV-{YEAR}-{SEQ:06} → F{YEAR}-{SEQ:04}" in entry.message
    assert "auto apply credit: False → True" in entry.message and "taxes enabled" not in entry.message


# --- gateways --------------------------------------------------------------------------------------------------


def test_a_gateway_change_is_logged_and_a_secret_only_as_changed(admin_client, admin_user, db):
    stripe = GatewayConfig.objects.get(code="stripe")
    stripe.settings = {"secret_key": "sk_test_OLD"}
    stripe.save()
    url = reverse("admin:billing_gatewayconfig_change", args=[stripe.pk])
    data = {
        "display_name": "Card",
        "enabled": "on",
        "sort_order": "5",
        "setting_secret_key": "sk_test_NEW",
        "setting_webhook_secret": "whsec_1",
    }
    assert admin_client.post(url, data).status_code == 302
    [entry] = ActivityLog.objects.filter(action="gateway_config_changed")
    assert entry.actor == admin_user
    assert "display name: Card (Stripe) → Card" in entry.message and "enabled: False → True" in entry.message
    assert "setting secret key: changed" in entry.message and "setting webhook secret: set" in entry.message
    assert "sk_test" not in entry.message and "whsec" not in entry.message


def test_enabling_a_gateway_from_the_list_is_logged(admin_client, db):
    rows = list(GatewayConfig.objects.order_by("pk"))
    data = {"form-TOTAL_FORMS": str(len(rows)), "form-INITIAL_FORMS": str(len(rows)), "_save": "Save"}
    for n, row in enumerate(rows):
        data[f"form-{n}-id"] = row.pk
        data[f"form-{n}-sort_order"] = row.sort_order
        if row.enabled or row.code == "stripe":
            data[f"form-{n}-enabled"] = "on"
    assert admin_client.post(reverse("admin:billing_gatewayconfig_changelist"), data).status_code == 302
    assert GatewayConfig.objects.get(code="stripe").enabled
    assert ActivityLog.objects.get(action="gateway_config_changed").message.endswith("enabled: False → True")


def test_the_admin_client_form_checks_through_the_service_not_by_itself(admin_client, customer):
    """A second login with the same email made between opening the page and saving it is still refused."""
    page = admin_client.get(_client_url(customer))
    assert page.status_code == 200
    get_user_model().objects.create(username="late@example.com")
    response = admin_client.post(_client_url(customer), _client_post(customer, email="late@example.com"))
    assert "A login for late@example.com already exists." in response.content.decode()
    assert Client.objects.get(pk=customer.pk).email == customer.email


def test_two_clients_may_not_share_a_login(admin_client, customer):
    other = ClientFactory(currency=customer.currency)
    response = admin_client.post(_client_url(other), _client_post(other, user=customer.user_id))
    assert response.status_code == 200
    assert Client.objects.get(pk=other.pk).user_id == other.user_id


def test_a_refusal_that_comes_only_at_save_time_is_shown_and_saves_nothing(admin_client, customer, monkeypatch):
    """The login is taken after the form's check and before the service locks the row (a seam that calls the real
    service, on the admin's own reference to it): the admin says why and nothing is written, no error page."""
    from billing.admin import clients as client_admin

    real_update = client_admin.client_update

    def taken_meanwhile(**kwargs):
        UserFactory(username="late@example.com")
        return real_update(**kwargs)

    monkeypatch.setattr(client_admin, "client_update", taken_meanwhile)
    response = admin_client.post(
        _client_url(customer), _client_post(customer, email="late@example.com", notes="noted"), follow=True
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Nothing was saved: A login for late@example.com already exists." in page
    assert "was changed successfully" not in page
    saved = Client.objects.get(pk=customer.pk)
    assert (saved.email, saved.notes) == (customer.email, customer.notes)
    assert not ActivityLog.objects.filter(action="client_changed").exists()


def test_a_staff_login_linked_to_a_client_keeps_its_name_when_the_client_email_changes(admin_client, customer):
    staff = UserFactory(username="helpdesk", is_staff=True)
    other = ClientFactory(currency=customer.currency, user=staff)
    response = admin_client.post(_client_url(other), _client_post(other, email="billing@example.com"))
    assert response.status_code == 302
    staff.refresh_from_db()
    assert staff.username == "helpdesk"
    assert Client.objects.get(pk=other.pk).email == "billing@example.com"
