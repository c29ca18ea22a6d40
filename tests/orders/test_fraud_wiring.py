"""The fraud check wired into checkout and the order admin (issue 5, requirements 4 and 5)."""

import io
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

import fraud.services
from billing.models import BillingSettings, Invoice
from billing.services import credit_add
from fraud.models import SETTINGS_ROW_ID, FraudRule, FraudSettings
from notifications.models import ActivityLog, Event
from orders.models import Order
from orders.services import CartItem, order_accept, order_mark_fraud, order_set_pending
from orders.services.fraud import order_fraud_recheck
from provisioning.models import Domain, Service
from tests.factories import ClientFactory, CurrencyFactory, OrderFactory, PricingFactory, ProductFactory

# network, country, region, city, latitude, longitude, asn, as_org, is_anonymous, is_hosting
NETWORKS = """\
network,country,region,city,latitude,longitude,asn,as_org,is_anonymous,is_hosting
192.0.2.0/24,DE,BE,Berlin,52.52,13.405,64496,Example Telecom Berlin,0,0
198.51.100.0/24,GB,ENG,London,51.5074,-0.1278,64497,Example Broadband London,0,0
2001:db8:6b::/48,GB,ENG,London,51.5074,-0.1278,64497,Example Broadband London,0,0
2001:db8:de::/48,DE,BE,Berlin,52.52,13.405,64496,Example Telecom Berlin,0,0
"""
BERLIN_IP = "192.0.2.10"  # the factory's clients bill to DE
LONDON_IP = "198.51.100.7"
LONDON_IPV6 = "2001:db8:6b::7"
FRAUD_EVENTS = ["PreFraudCheck", "AfterFraudCheck", "FraudCheckPassed", "FraudCheckFailed", "FraudOrder"]


@pytest.fixture
def geo_db(tmp_path, settings):
    source, output = tmp_path / "networks.csv", tmp_path / "geo.mmdb"
    source.write_text(NETWORKS)
    call_command("build_geoip_db", str(source), str(output), stdout=io.StringIO())
    settings.FRAUD_GEOIP_CITY_DB = str(output)
    return output


@pytest.fixture
def vps(usd):
    product = ProductFactory(name="VPS", stock_control=True, stock_quantity=100)
    PricingFactory(product=product, currency=usd, price=Decimal("19.00"))
    return product


def _fraud_settings(**changes):
    FraudSettings.objects.filter(pk=SETTINGS_ROW_ID).update(**changes)


def _events(order):
    names = Event.objects.filter(name__in=[*FRAUD_EVENTS, "OrderCreated"]).order_by("pk")
    return [e.name for e in names if e.payload.get("order_id") == order.pk]


def _stock(product):
    product.refresh_from_db()
    return product.stock_quantity


# --- Checkout ---------------------------------------------------------------------------------------------------


def test_an_order_below_the_threshold_stays_pending_with_its_result_stored(customer, vps, geo_db):
    _fraud_settings(threshold=51)  # the country mismatch alone is 50 points
    order = OrderFactory(client=customer, product=vps, ip_address=LONDON_IP)
    assert order.status == Order.Status.PENDING
    assert order.fraud_score == 50
    result = order.fraud_result
    assert (result["score"], result["threshold"], result["is_fraud"]) == (50, 51, False)
    assert [rule["code"] for rule in result["rules"]] == ["ip_country_mismatch"]
    assert result["geoip"]["country_code"] == "GB" and result["geoip"]["city"] == "London"
    assert result["facts"]["billing_country"] == "DE" and result["checked_by"] == "system"
    assert order.services.get().status == Service.Status.PENDING
    assert order.invoice.status == Invoice.Status.UNPAID
    assert _events(order) == ["PreFraudCheck", "AfterFraudCheck", "FraudCheckPassed", "OrderCreated"]


def test_an_order_at_exactly_the_threshold_goes_straight_to_fraud_with_its_items(
    customer, vps, domain_product, place, geo_db
):
    assert _stock(vps) == 100
    order = place(
        customer,
        CartItem(product_id=vps.pk, billing_cycle="monthly"),
        CartItem(product_id=domain_product.pk, billing_cycle="annually", domain="fraud-example.com"),
        ip_address=LONDON_IP,
    )
    order.refresh_from_db()
    assert (order.status, order.fraud_score, order.fraud_result["threshold"]) == (Order.Status.FRAUD, 50, 50)
    assert order.services.get().status == Service.Status.FRAUD
    assert order.domains.get().status == Domain.Status.FRAUD
    assert order.invoice.status == Invoice.Status.CANCELLED
    assert _stock(vps) == 100  # taken by the checkout, given back by the cascade
    assert _events(order) == ["PreFraudCheck", "AfterFraudCheck", "FraudCheckFailed", "OrderCreated", "FraudOrder"]
    created = Event.objects.get(name="OrderCreated")
    assert created.payload["fraud"] is True
    history = list(order.history.values_list("from_status", "to_status", "actor_label"))
    assert history == [("", "pending", "system"), ("pending", "fraud", "system")]
    assert "The IP address is in United Kingdom (GB)" in order.history.last().reason


def test_an_ipv6_address_in_another_country_sends_the_order_to_fraud(customer, vps, geo_db):
    order = OrderFactory(client=customer, product=vps, ip_address=LONDON_IPV6)
    assert order.status == Order.Status.FRAUD
    assert order.fraud_result["ip"]["version"] == 6 and order.fraud_result["geoip"]["country_code"] == "GB"


def test_an_order_from_the_billing_country_stays_pending_and_cancels_nothing_else(customer, vps, geo_db):
    earlier = OrderFactory(client=customer, product=vps, ip_address=BERLIN_IP)
    assert earlier.status == Order.Status.PENDING and earlier.fraud_score == 0
    fraud_order = OrderFactory(client=customer, product=vps, ip_address=LONDON_IP)
    assert fraud_order.status == Order.Status.FRAUD
    earlier.refresh_from_db()
    assert earlier.status == Order.Status.PENDING and earlier.invoice.status == Invoice.Status.UNPAID
    assert earlier.services.get().status == Service.Status.PENDING


def test_the_facts_count_earlier_orders_and_fraud_orders_by_ip_email_and_client(customer, usd, vps, geo_db):
    _fraud_settings(threshold=100)  # only the facts matter here
    first = OrderFactory(client=customer, product=vps, ip_address=LONDON_IP)
    order_mark_fraud(order=first, actor=None)
    same_email = ClientFactory(currency=usd, email=customer.email.upper())
    OrderFactory(client=same_email, product=vps, ip_address=BERLIN_IP)
    order = OrderFactory(client=customer, product=vps, ip_address=LONDON_IP)
    facts = order.fraud_result["facts"]
    assert facts["earlier_orders"] == 1
    assert facts["earlier_fraud_orders_same_client"] == 1
    assert facts["earlier_fraud_orders_same_email"] == 1
    assert facts["earlier_fraud_orders_same_ip"] == 1
    assert facts["orders_from_ip_last_hour"] == 1
    assert facts["services_ordered"] == 1 and facts["has_paid_invoice"] is False
    assert {rule["code"] for rule in order.fraud_result["rules"]} >= {"ip_country_mismatch", "earlier_fraud_order"}


def test_the_check_reads_history_in_a_fixed_number_of_queries(customer, usd, vps, geo_db):
    def queries_for_one_order():
        with CaptureQueriesContext(connection) as queries:
            OrderFactory(client=customer, product=vps, ip_address=BERLIN_IP)
        return len(queries)

    queries_for_one_order()  # the test's one transaction reads the webhook endpoints at its first event, once
    few = queries_for_one_order()
    for _n in range(6):
        OrderFactory(client=ClientFactory(currency=usd), product=vps, ip_address=BERLIN_IP)
        OrderFactory(client=customer, product=vps, ip_address=BERLIN_IP)
    assert queries_for_one_order() == few


def test_the_total_is_compared_in_the_default_currency(usd, geo_db):
    yen = CurrencyFactory(code="JPY", prefix="¥", decimal_places=0, exchange_rate=Decimal("150"))
    client = ClientFactory(currency=yen)
    product = ProductFactory(name="Big server")
    PricingFactory(product=product, currency=yen, price=Decimal("90000"))  # 600.00 in USD
    order = OrderFactory(client=client, product=product, ip_address=BERLIN_IP)
    facts, rules = order.fraud_result["facts"], {r["code"]: r for r in order.fraud_result["rules"]}
    assert (facts["order_total"], facts["currency"], facts["exchange_rate"]) == ("90000.00", "JPY", "150.00000000")
    assert "600.00" in rules["new_client_large_order"]["sentence"]


@pytest.mark.parametrize("skip_on", [True, False])
def test_skip_for_clients_with_an_active_service(skip_on, customer, vps, geo_db):
    _fraud_settings(skip_for_clients_with_active_service=skip_on)
    accepted = OrderFactory(client=customer, product=vps, ip_address=BERLIN_IP)
    order_accept(order=accepted, actor=None)
    assert accepted.services.get().status == Service.Status.ACTIVE
    order = OrderFactory(client=customer, product=vps, ip_address=LONDON_IP)
    if skip_on:
        assert order.status == Order.Status.PENDING and order.fraud_score == 0
        assert order.fraud_result["skipped_reason"] == "The check was skipped: the client has an active service."
        assert _events(order)[:3] == ["PreFraudCheck", "AfterFraudCheck", "FraudCheckPassed"]
    else:
        assert order.status == Order.Status.FRAUD
        assert order.fraud_result["facts"]["client_has_active_service"] is True


@pytest.mark.parametrize(
    ("skip_on", "credit", "skipped"),
    [(True, "50.00", True), (False, "50.00", False), (True, "5.00", False)],
)
def test_skip_for_orders_paid_by_credit(skip_on, credit, skipped, customer, vps, geo_db):
    _fraud_settings(skip_for_orders_paid_by_credit=skip_on)
    BillingSettings.objects.update_or_create(pk=BillingSettings.load().pk, defaults={"auto_apply_credit": True})
    credit_add(client_id=customer.pk, amount=Decimal(credit), reason="test", actor=None)
    order = OrderFactory(client=customer, product=vps, ip_address=LONDON_IP)
    paid_in_full = credit == "50.00"
    assert order.fraud_result["facts"]["paid_by_credit"] is paid_in_full
    if skipped:
        assert order.status == Order.Status.PENDING
        assert "paid from the client's credit balance" in order.fraud_result["skipped_reason"]
    else:
        assert order.status == Order.Status.FRAUD
        # A paid invoice stays paid (as when an admin marks a paid order as fraud); an unpaid one is cancelled.
        expected = Invoice.Status.PAID if paid_in_full else Invoice.Status.CANCELLED
        assert order.invoice.status == expected
        customer.refresh_from_db()
        assert customer.credit_balance == (Decimal("31.00") if paid_in_full else Decimal("5.00"))


def test_a_missing_database_still_places_the_order_and_says_so(customer, vps, settings, tmp_path):
    settings.FRAUD_GEOIP_CITY_DB = str(tmp_path / "absent.mmdb")
    order = OrderFactory(client=customer, product=vps, ip_address=LONDON_IP)
    assert order.status == Order.Status.PENDING
    assert order.fraud_result["geoip"]["available"] is False
    assert any("GeoIP database missing" in warning for warning in order.fraud_result["warnings"])
    assert "ip_country_mismatch" not in {rule["code"] for rule in order.fraud_result["rules"]}


@pytest.mark.parametrize("raw", ["999.1.1.1", "203.0.113.7, 10.0.0.1", "", "x" * 500, "::zz"])
def test_a_malformed_ip_from_the_request_is_recorded_and_the_order_placed(raw, customer, vps, geo_db):
    FraudRule.objects.update_or_create(code="malformed_ip", defaults={"enabled": True, "points": 10})
    order = OrderFactory(client=customer, product=vps, ip_address=raw)
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert order.ip_address is None  # never stored: PostgreSQL's inet column would refuse it
    ip = order.fraud_result["ip"]
    assert ip["is_valid"] is False and ip["problem"]
    assert ip["raw"] == (raw if len(raw) <= 64 else raw[:64] + "…")
    assert "malformed_ip" in {rule["code"] for rule in order.fraud_result["rules"]}


def test_an_ipv4_mapped_address_is_stored_and_checked_as_ipv4(customer, vps, geo_db):
    order = OrderFactory(client=customer, product=vps, ip_address=f"::ffff:{BERLIN_IP}")
    order.refresh_from_db()
    assert order.ip_address == BERLIN_IP and order.fraud_result["ip"]["version"] == 4
    assert order.status == Order.Status.PENDING


def test_a_store_checkout_from_a_malformed_remote_addr_places_the_order(client, customer, vps, geo_db):
    client.force_login(customer.user)
    client.post(reverse("clientarea:store_product", args=[vps.pk]), {"billing_cycle": "monthly"})
    response = client.post(
        reverse("clientarea:checkout"), {"accept_terms": "on", "promo_code": ""}, REMOTE_ADDR="not-an-ip"
    )
    assert response.status_code == 302
    order = Order.objects.get(client=customer)
    assert order.status == Order.Status.PENDING and order.fraud_result["ip"]["raw"] == "not-an-ip"


def test_a_client_whose_store_order_lands_in_fraud_is_told_it_needs_a_review(client, customer, vps):
    _fraud_settings(threshold=0)  # every order scores at or above the threshold
    client.force_login(customer.user)
    client.post(reverse("clientarea:store_product", args=[vps.pk]), {"billing_cycle": "monthly"})
    response = client.post(reverse("clientarea:checkout"), {"accept_terms": "on", "promo_code": ""}, follow=True)
    order = Order.objects.get(client=customer)
    page = response.content.decode()
    assert order.status == Order.Status.FRAUD
    assert response.redirect_chain[-1][0] == reverse("clientarea:order_list")
    assert "needs a manual review" in page and "Thank you" not in page


def test_a_fault_in_the_engine_leaves_the_order_pending_with_the_failure_recorded(
    customer, vps, geo_db, monkeypatch, caplog
):
    def broken(**kwargs):
        # A database error first: on PostgreSQL only a savepoint keeps the checkout's transaction usable.
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table_for_fraud")

    monkeypatch.setattr(fraud.services, "fraud_check", broken)
    order = OrderFactory(client=customer, product=vps, ip_address=LONDON_IP)
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING and order.fraud_score is None
    assert "no_such_table_for_fraud" in order.fraud_result["error"]
    assert order.invoice.status == Invoice.Status.UNPAID and order.services.get().status == Service.Status.PENDING
    assert _events(order) == ["PreFraudCheck", "AfterFraudCheck", "OrderCreated"]
    assert Event.objects.get(name="AfterFraudCheck").payload["error"] is True
    assert "Fraud check of" in caplog.text and "stays Pending" in caplog.text


def test_ordinary_test_orders_without_a_database_stay_pending(customer, hosting, domain_product, place):
    order = place(
        customer,
        CartItem(product_id=hosting.pk, billing_cycle="monthly", domain="shop.example.com"),
        CartItem(product_id=domain_product.pk, billing_cycle="annually", domain="shop-example.com"),
        ip_address="203.0.113.9",
    )
    assert order.status == Order.Status.PENDING and order.fraud_score < order.fraud_result["threshold"]


# --- Admin ------------------------------------------------------------------------------------------------------


def _change_url(order):
    return reverse("admin:orders_order_change", args=[order.pk])


def _recheck_url(order):
    return reverse("admin:orders_order_fraud_recheck", args=[order.pk])


def _messages(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_the_order_page_shows_score_threshold_sentences_and_geoip_facts(admin_client, customer, vps, geo_db):
    order = OrderFactory(client=customer, product=vps, ip_address=LONDON_IP)
    page = admin_client.get(_change_url(order)).content.decode()
    assert "Score 50 of 100</strong>, threshold 50" in page
    assert "at or above the threshold (Fraud)" in page
    assert "IP country differs from billing country" in page
    assert "The IP address is in United Kingdom (GB) but the billing country is Germany (DE)." in page
    for fact in ("198.51.100.0/24", "United Kingdom (GB)", "London", "AS64497 Example Broadband London", "geo.mmdb"):
        assert fact in page
    assert "Run the fraud check again" in page
    assert 'class="review-pending"' in page  # a Fraud order offers "set back to pending"


def test_the_order_page_warns_when_the_geoip_database_is_missing(admin_client, customer, vps):
    order = OrderFactory(client=customer, product=vps, ip_address=LONDON_IP)
    page = admin_client.get(_change_url(order)).content.decode()
    assert "<strong>Now:</strong> GeoIP database missing: FRAUD_GEOIP_CITY_DB is not set; GeoIP rules skipped." in page
    assert "Score 0 of 100" in page and "No rule fired." in page


def test_the_order_page_shows_a_failed_check(admin_client, customer, vps, monkeypatch):
    monkeypatch.setattr(fraud.services, "fraud_check", lambda **kwargs: 1 / 0)
    order = OrderFactory(client=customer, product=vps, ip_address=LONDON_IP)
    page = admin_client.get(_change_url(order)).content.decode()
    assert "The fraud check failed" in page and "ZeroDivisionError" in page


def test_run_the_check_again_asks_first_then_stores_a_new_result_and_keeps_the_status(
    admin_client, admin_user, customer, vps, settings, geo_db
):
    settings.FRAUD_GEOIP_CITY_DB = ""
    order = OrderFactory(client=customer, product=vps, ip_address=LONDON_IP)
    assert (order.status, order.fraud_score) == (Order.Status.PENDING, 0)
    settings.FRAUD_GEOIP_CITY_DB = str(geo_db)
    confirm = admin_client.get(_recheck_url(order))
    assert confirm.status_code == 200 and "Run the check again" in confirm.content.decode()
    order.refresh_from_db()
    assert order.fraud_score == 0  # looking changes nothing

    response = admin_client.post(_recheck_url(order))
    assert response.status_code == 302 and response.url == _change_url(order)
    order.refresh_from_db()
    assert (order.status, order.fraud_score) == (Order.Status.PENDING, 50)
    assert order.fraud_result["recheck"] is True and order.fraud_result["checked_by"] == admin_user.username
    assert order.fraud_result["rules"][0]["code"] == "ip_country_mismatch"
    assert any("score 50, at or above the threshold 50" in m and "stays Pending" in m for m in _messages(response))
    log = ActivityLog.objects.get(action="order_fraud_rechecked")
    assert "score 0 → 50" in log.message and log.actor == admin_user
    assert Event.objects.filter(name="FraudCheckFailed", payload__recheck=True).count() == 1
    assert not Event.objects.filter(name="FraudOrder").exists()


def test_a_failed_recheck_keeps_the_stored_result(admin_client, customer, vps, geo_db, monkeypatch):
    order = OrderFactory(client=customer, product=vps, ip_address=LONDON_IP)
    stored = order.fraud_result
    monkeypatch.setattr(fraud.services, "fraud_check", lambda **kwargs: 1 / 0)
    response = admin_client.post(_recheck_url(order))
    assert any("failed" in m and "unchanged" in m for m in _messages(response))
    order.refresh_from_db()
    assert order.fraud_result == stored and order.status == Order.Status.FRAUD


def test_recheck_of_an_accepted_order_ignores_its_own_services(admin_user, customer, vps, geo_db):
    _fraud_settings(skip_for_clients_with_active_service=True)
    order = OrderFactory(client=customer, product=vps, ip_address=LONDON_IP)
    order_set_pending(order=order, actor=admin_user)
    order_accept(order=order, actor=admin_user)
    screening = order_fraud_recheck(order_id=order.pk, actor=admin_user)
    assert screening.stored["facts"]["client_has_active_service"] is False
    assert screening.is_fraud and Order.objects.get(pk=order.pk).status == Order.Status.ACTIVE


def test_set_back_to_pending_reopens_the_invoice_of_an_order_the_check_sent_to_fraud(
    admin_client, customer, vps, geo_db
):
    order = OrderFactory(client=customer, product=vps, ip_address=LONDON_IP)
    assert order.status == Order.Status.FRAUD and _stock(vps) == 100
    admin_client.post(reverse("admin:orders_order_transition", args=[order.pk, "pending"]), {"reason": "phoned"})
    order.refresh_from_db()
    order.invoice.refresh_from_db()
    assert (order.status, order.invoice.status) == (Order.Status.PENDING, Invoice.Status.UNPAID)
    assert order.services.get().status == Service.Status.PENDING and _stock(vps) == 99
    assert order.fraud_score == 50  # the result stays as the record of why it was held


def test_the_order_list_shows_the_score_without_querying_per_row(admin_client, usd, vps, geo_db):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            response = admin_client.get(reverse("admin:orders_order_changelist"))
        assert response.status_code == 200
        return len(captured), response.content.decode()

    for ip in (LONDON_IP, BERLIN_IP):
        OrderFactory(client=ClientFactory(currency=usd), product=vps, ip_address=ip)
    few, _page = queries()
    for n in range(10):
        OrderFactory(client=ClientFactory(currency=usd), product=vps, ip_address=LONDON_IP if n % 2 else BERLIN_IP)
    many, page = queries()
    assert many == few
    assert page.count('class="field-fraud_score"') == 12
