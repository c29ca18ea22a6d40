"""Demo data for `make run`: a catalog, three clients with logins, a few orders, and an admin.

Data is created once; the demo passwords are set anew on every run and printed, so whoever runs
`make run` can always log in. Everything goes through the same services the portal uses.

A "Managed PostgreSQL" product (module "postgresql", set up on payment) has a server that points at the local
PostgreSQL (127.0.0.1:5432, user postgres) when it answers; otherwise the server is made inactive with a note
saying why. Alice has a Pending order for it with its unpaid invoice: paying it sets the database up.

It also builds a small GeoIP database from fraud/demo/geoip-demo.csv (documentation networks only) at
var/geoip-demo.mmdb; `make run` points FRAUD_GEOIP_CITY_DB at it, so the demo order Bob places from a Brazilian
demo IP lands in Fraud with the reasons on its order page.
"""

import io
import secrets
from decimal import Decimal
from pathlib import Path

import psycopg
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction

from billing.cycles import BillingCycle
from billing.models import Currency, TaxRule
from billing.services import client_create, credit_add, payment_record
from core import crypto
from orders.models import Product, ProductGroup, ProductPricing, Promotion
from orders.services import CartItem, ServiceAcceptOptions, order_accept, order_place
from provisioning.models import AutoSetup, Server, ServerGroup, Service, Tld
from provisioning.services.tlds import TldFeesRow, TldPriceRow, tld_save

DEMO_CLIENTS = [
    {
        "contact_name": "Alice Example",
        "company_name": "Alice's Bakery",
        "email": "alice@example.com",
        "country": "DE",
        "city": "Berlin",
        "address_1": "Brotstrasse 1",
        "postcode": "10115",
    },
    {
        "contact_name": "Bob Builder",
        "company_name": "Builder Ltd",
        "email": "bob@example.com",
        "country": "GB",
        "city": "London",
        "address_1": "1 Brick Lane",
        "postcode": "E1 6QL",
    },
    {
        "contact_name": "Carol Client",
        "company_name": "",
        "email": "carol@example.com",
        "country": "US",
        "city": "Portland",
        "state": "OR",
        "address_1": "500 Pine St",
        "postcode": "97204",
    },
]


DEMO_GEOIP_CSV = Path(settings.BASE_DIR) / "fraud" / "demo" / "geoip-demo.csv"
DEMO_GEOIP_DB = Path(settings.BASE_DIR) / "var" / "geoip-demo.mmdb"
# The demo database maps this address to Brazil (a hosting network); Bob's billing country is GB.
DEMO_FRAUD_IP = "192.0.2.200"
# The local PostgreSQL the demo's database hosting points at (trust auth, as `make run` and the tests use it).
DEMO_POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


def postgres_unreachable() -> str:
    """Why the local PostgreSQL cannot be used by the demo's database server, or "" when it answers."""
    try:
        with psycopg.connect(dbname="postgres", password="", connect_timeout=2, **DEMO_POSTGRES):
            return ""
    except psycopg.Error as error:
        return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _password() -> str:
    return f"demo-{secrets.token_urlsafe(9)}"


class Command(BaseCommand):
    help = "Load demo data (once) and print fresh passwords for the demo admin and clients."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--geoip-db",
            default=str(DEMO_GEOIP_DB),
            help=f"where to write the demo GeoIP database (default {DEMO_GEOIP_DB}); point FRAUD_GEOIP_CITY_DB at it",
        )

    def handle(self, *args, geoip_db: str, **options) -> None:
        self._build_geoip_db(Path(geoip_db))
        with transaction.atomic():
            if not Currency.objects.exists():
                self._load()
            passwords = self._reset_passwords()
        self.stdout.write(self.style.SUCCESS("Demo data ready. Log in with:"))
        self.stdout.write(
            "  Admin       http://127.0.0.1:8000/admin/   user: admin              password: " + passwords["admin"]
        )
        for email, password in passwords.items():
            if email != "admin":
                self.stdout.write(
                    f"  Client area http://127.0.0.1:8000/         user: {email:<18} password: {password}"
                )

    def _build_geoip_db(self, path: Path) -> None:
        """Written on every run (it takes milliseconds, and is renamed over the old file so a running portal never
        reads half of it)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        call_command("build_geoip_db", str(DEMO_GEOIP_CSV), str(path), stdout=io.StringIO())
        self.stdout.write(f"Demo GeoIP database written to {path}.")
        configured = settings.FRAUD_GEOIP_CITY_DB
        if not configured or Path(configured).resolve() != path.resolve():
            self.stdout.write(
                self.style.WARNING(
                    f"FRAUD_GEOIP_CITY_DB is {configured or 'not set'}: the fraud check does not use the demo "
                    f"database. Set FRAUD_GEOIP_CITY_DB={path} (make run does)."
                )
            )

    def _reset_passwords(self) -> dict[str, str]:
        user_model = get_user_model()
        admin, _ = user_model.objects.get_or_create(username="admin", defaults={"email": "admin@example.com"})
        admin.is_staff = admin.is_superuser = True
        passwords = {"admin": _password()}
        admin.set_password(passwords["admin"])
        admin.save()
        for user in user_model.objects.filter(username__in=[c["email"] for c in DEMO_CLIENTS]).order_by("username"):
            passwords[user.username] = _password()
            user.set_password(passwords[user.username])
            user.save(update_fields=["password"])
        return passwords

    def _load(self) -> None:
        usd = Currency.objects.create(code="USD", prefix="$", suffix="USD", is_default=True)
        eur = Currency.objects.create(code="EUR", prefix="€", suffix="EUR", exchange_rate=Decimal("0.92"))
        shared_group = ServerGroup.objects.create(name="Shared EU")
        server = Server.objects.create(
            name="web01", hostname="web01.example.net", ip_address="192.0.2.10", module="cpanel", max_accounts=300
        )
        server.groups.add(shared_group)
        database_group = ServerGroup.objects.create(name="Databases")
        database_server = self._postgres_server()
        database_server.groups.add(database_group)

        hosting = ProductGroup.objects.create(name="Shared Hosting", sort_order=1)
        vps = ProductGroup.objects.create(name="VPS", sort_order=2)
        domains = ProductGroup.objects.create(name="Domains", sort_order=3)
        databases = ProductGroup.objects.create(name="Databases", sort_order=4)
        catalog = {
            "starter": (
                Product.objects.create(
                    group=hosting,
                    name="Starter",
                    requires_domain=True,
                    module="cpanel",
                    server_group=shared_group,
                    auto_setup=AutoSetup.ON_PAYMENT,
                ),
                {BillingCycle.MONTHLY: ("4.99", "0.00"), BillingCycle.ANNUALLY: ("49.90", "0.00")},
            ),
            "business": (
                Product.objects.create(
                    group=hosting,
                    name="Business",
                    requires_domain=True,
                    module="cpanel",
                    server_group=shared_group,
                    auto_setup=AutoSetup.ON_ACCEPT,
                ),
                {
                    BillingCycle.MONTHLY: ("9.99", "5.00"),
                    BillingCycle.QUARTERLY: ("27.99", "5.00"),
                    BillingCycle.ANNUALLY: ("99.90", "0.00"),
                },
            ),
            "vps": (
                Product.objects.create(
                    group=vps,
                    name="VPS 2 GB",
                    type=Product.Type.SERVER,
                    stock_control=True,
                    stock_quantity=20,
                    auto_setup=AutoSetup.ON_ACCEPT,
                ),
                {BillingCycle.MONTHLY: ("19.00", "10.00"), BillingCycle.ANNUALLY: ("190.00", "0.00")},
            ),
            "postgres": (
                Product.objects.create(
                    group=databases,
                    name="Managed PostgreSQL",
                    module="postgresql",
                    module_settings={"connection_limit": 5},
                    server_group=database_group,
                    auto_setup=AutoSetup.ON_PAYMENT,
                ),
                {BillingCycle.MONTHLY: ("7.00", "0.00"), BillingCycle.ANNUALLY: ("70.00", "0.00")},
            ),
            "com": (
                Product.objects.create(
                    group=domains, name=".com registration", type=Product.Type.DOMAIN, auto_setup=AutoSetup.ON_PAYMENT
                ),
                {BillingCycle.ANNUALLY: ("12.99", "0.00"), BillingCycle.BIENNIALLY: ("25.98", "0.00")},
            ),
        }
        for product, prices in catalog.values():
            for cycle, (price, setup) in prices.items():
                for currency, rate in ((usd, Decimal("1")), (eur, eur.exchange_rate)):
                    ProductPricing.objects.create(
                        product=product,
                        currency=currency,
                        billing_cycle=cycle,
                        price=currency.quantize(Decimal(price) * rate),
                        setup_fee=currency.quantize(Decimal(setup) * rate),
                    )
        Promotion.objects.create(code="WELCOME10", value=Decimal("10"))
        TaxRule.objects.create(level=1, name="VAT", country="DE", rate=Decimal("19"))
        TaxRule.objects.create(level=1, name="VAT", country="GB", rate=Decimal("20"))
        TaxRule.objects.create(level=1, name="State tax", country="US", state="OR", rate=Decimal("0"))

        # .com at the Manual registrar (an admin registers by hand; it cannot check availability), priced for 1-10
        # years: the .com product's domains are priced from this table (docs/DOMAINS.md).
        tld_save(
            tld_id=None,
            fields={"extension": "com", "registrar": "manual", "register_when": Tld.RegisterWhen.ON_PAYMENT},
            prices=[
                TldPriceRow(
                    currency_id=currency.pk,
                    years=years,
                    register_price=currency.quantize(Decimal("12.99") * years * rate),
                    transfer_price=currency.quantize(Decimal("10.99") * years * rate),
                    renew_price=currency.quantize(Decimal("14.99") * years * rate),
                )
                for currency, rate in ((usd, Decimal("1")), (eur, eur.exchange_rate))
                for years in range(1, 11)
            ],
            fees=[
                TldFeesRow(
                    currency_id=currency.pk,
                    grace_fee=currency.quantize(Decimal("5") * rate),
                    redemption_fee=currency.quantize(Decimal("80") * rate),
                )
                for currency, rate in ((usd, Decimal("1")), (eur, eur.exchange_rate))
            ],
            actor=None,
        )

        currency_for = {"DE": eur, "GB": eur, "US": usd}
        clients = [
            client_create(currency=currency_for[c["country"]], actor=None, password=_password(), **c)
            for c in DEMO_CLIENTS
        ]
        alice, bob, carol = clients
        starter, business, vps_product, com = (catalog[k][0] for k in ("starter", "business", "vps", "com"))

        order_place(
            client=alice,
            actor=alice.user,
            ip_address="203.0.113.7",
            items=[
                CartItem(product_id=starter.pk, billing_cycle=BillingCycle.MONTHLY, domain="alices-bakery.com"),
                CartItem(product_id=com.pk, billing_cycle=BillingCycle.ANNUALLY, domain="alices-bakery.com"),
            ],
        )
        bob_order = order_place(
            client=bob,
            actor=bob.user,
            ip_address="198.51.100.23",
            promo_code="WELCOME10",
            items=[
                CartItem(product_id=business.pk, billing_cycle=BillingCycle.ANNUALLY, domain="builder.example"),
                # Monthly: paid for its first month here, so `run_automation --dry-run --date <a month ahead>`
                # shows its renewal invoice and the reminder that follows.
                CartItem(product_id=starter.pk, billing_cycle=BillingCycle.MONTHLY, domain="builders-blog.example"),
            ],
        )
        # web01 is a made-up cPanel server (a documentation address): activated without its module's create.
        order_accept(
            order=bob_order,
            actor=None,
            service_options={
                pk: ServiceAcceptOptions(run_module_create=False)
                for pk in Service.objects.filter(order=bob_order).values_list("pk", flat=True)
            },
            reason="Demo: accepted on load (web01 is not a real server, so no module ran)",
        )
        payment_record(
            invoice_id=bob_order.invoice_id,
            amount=bob_order.invoice.balance_due,
            gateway="banktransfer",
            gateway_transaction_id="DEMO-BANK-0001",
            actor=None,
        )
        credit_add(client_id=carol.pk, amount=Decimal("20.00"), reason="Demo: welcome credit", actor=None)
        order_place(
            client=carol,
            actor=carol.user,
            ip_address="2001:db8::42",
            items=[
                CartItem(product_id=vps_product.pk, billing_cycle=BillingCycle.MONTHLY),
            ],
        )
        order_place(
            client=carol,
            actor=carol.user,
            ip_address="2001:db8::42",
            items=[
                CartItem(
                    product_id=com.pk,
                    billing_cycle=BillingCycle.BIENNIALLY,
                    domain="carol-transfers.com",
                    domain_action="transfer",
                    epp_code="Demo-Auth-7x!",  # the code her current registrar gave her (kept encrypted)
                ),
            ],
        )
        # From an address the demo GeoIP database puts in Brazil while Bob bills to GB: the fraud check sends it
        # straight to Fraud, and its order page says why.
        order_place(
            client=bob,
            actor=bob.user,
            ip_address=DEMO_FRAUD_IP,
            items=[CartItem(product_id=vps_product.pk, billing_cycle=BillingCycle.MONTHLY)],
        )
        # Database hosting, Pending with its unpaid invoice: paying it sets the database up on the local server.
        order_place(
            client=alice,
            actor=alice.user,
            ip_address="203.0.113.7",
            items=[CartItem(product_id=catalog["postgres"][0].pk, billing_cycle=BillingCycle.MONTHLY)],
        )

    def _postgres_server(self) -> Server:
        why = postgres_unreachable()
        server = Server.objects.create(
            name="db01",
            hostname=DEMO_POSTGRES["host"],
            port=DEMO_POSTGRES["port"],
            secure=False,  # loopback
            module="postgresql",
            username=DEMO_POSTGRES["user"],
            credentials_token=crypto.encrypt_json({"password": ""}),
            max_accounts=50,
            is_active=not why,
            notes=""
            if not why
            else f"Inactive: the local PostgreSQL at {DEMO_POSTGRES['host']}:{DEMO_POSTGRES['port']} did not answer "
            f"when the demo was loaded ({why}). Start it, then make this server active and test its connection.",
        )
        if why:
            self.stdout.write(self.style.WARNING(f"Database server db01 made inactive: {why}"))
        return server
