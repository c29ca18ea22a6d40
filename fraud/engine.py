"""The fraud engine: plain facts about an order in, a scored and explained result out.

No database and no settings here: the rules' configuration arrives as a plain `FraudConfig` and GeoIP as a
locator (fraud.geoip), so tests and the benchmark drive the engine directly. `fraud.services.fraud_check`
loads the configuration from the admin's settings and calls `check`.

The score is the sum of the points of the rules that fired, capped at 100. An order whose score is at or above
the threshold is Fraud. See docs/FRAUD.md for the rules and what "new client" means.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from fraud import defaults
from fraud.countries import country_label
from fraud.geoip import GeoIPFacts, GeoIPLookup, IPAddress, IPFacts, parse_ip
from fraud.results import FiredRule, FraudResult

MAX_SCORE = 100
DEFAULT_THRESHOLD = 50
DEFAULT_NEW_CLIENT_MAX_AGE_DAYS = 30
CENT = Decimal("0.01")
EARTH_RADIUS_KM = 6371.0088  # mean radius (IUGG)


# --- Input -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MixedScriptDomain:
    """A domain name in the order with a label whose letters mix scripts (the caller decides which mixes count)."""

    name: str  # as the client reads it (Unicode), e.g. "apple.com" with a Cyrillic "a" (U+0430)
    ascii_name: str  # as registered, e.g. "xn--pple-43d.com"
    label: str  # the label that mixes, in Unicode
    scripts: tuple[str, ...]  # e.g. ("Cyrillic", "Latin")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ascii_name": self.ascii_name, "label": self.label, "scripts": list(self.scripts)}


@dataclass(frozen=True, kw_only=True)
class OrderFacts:
    """What the caller knows about an order. Counts never include the order being checked."""

    client_id: int | None
    client_age_days: int  # days since the client account was created
    email: str
    billing_country: str  # ISO 3166-1 alpha-2
    billing_region: str = ""
    billing_city: str = ""
    # Coordinates of the billing city, when the caller knows them; without them the distance rule is silent.
    billing_latitude: float | None = None
    billing_longitude: float | None = None
    ip_address: str | None = None  # the raw string from the request; None when the order came from no request
    order_total: Decimal
    currency: str
    # As billing.Currency.exchange_rate: units of `currency` for one unit of the default currency.
    exchange_rate: Decimal = Decimal("1")
    product_ids: tuple[int, ...] = ()
    product_names: tuple[str, ...] = ()
    services_ordered: int = 0
    earlier_orders: int = 0
    has_paid_invoice: bool = False  # the client paid an earlier invoice
    earlier_fraud_orders_same_ip: int = 0
    earlier_fraud_orders_same_email: int = 0
    earlier_fraud_orders_same_client: int = 0
    orders_from_ip_last_hour: int = 0  # earlier orders from the same IP address in the hour before this one
    # For the "skip the check" settings.
    client_has_active_service: bool = False
    paid_by_credit: bool = False
    placed_by_admin: bool = False  # an admin placed it for the client (Add New Order)
    # The order's domain names (registrations and hosting) with a label that mixes scripts.
    mixed_script_domains: tuple[MixedScriptDomain, ...] = ()

    def __post_init__(self) -> None:
        for name in ("order_total", "exchange_rate"):
            if not isinstance(getattr(self, name), Decimal):
                raise TypeError(f"OrderFacts.{name} must be a Decimal, not {type(getattr(self, name)).__name__}")
        if self.exchange_rate <= 0:
            raise ValueError("OrderFacts.exchange_rate must be positive")
        for name in (
            "client_age_days",
            "services_ordered",
            "earlier_orders",
            "earlier_fraud_orders_same_ip",
            "earlier_fraud_orders_same_email",
            "earlier_fraud_orders_same_client",
            "orders_from_ip_last_hour",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"OrderFacts.{name} cannot be negative")
        object.__setattr__(self, "product_ids", tuple(self.product_ids))
        object.__setattr__(self, "product_names", tuple(self.product_names))
        object.__setattr__(self, "mixed_script_domains", tuple(self.mixed_script_domains))

    @property
    def order_total_in_default_currency(self) -> Decimal:
        return (self.order_total / self.exchange_rate).quantize(CENT, rounding=ROUND_HALF_UP)

    @property
    def email_domain(self) -> str:
        _, at, domain = self.email.strip().rpartition("@")
        return domain.lower().rstrip(".") if at else ""

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        for name in ("order_total", "exchange_rate"):
            data[name] = str(data[name])
        data["product_ids"], data["product_names"] = list(self.product_ids), list(self.product_names)
        data["mixed_script_domains"] = [domain.to_json() for domain in self.mixed_script_domains]
        return data


@dataclass(frozen=True)
class RuleConfig:
    enabled: bool
    points: int
    threshold: Decimal | None = None


@dataclass(frozen=True, kw_only=True)
class FraudConfig:
    """Everything the admin can change, as plain values. Rules missing from `rules` take their defaults."""

    threshold: int = DEFAULT_THRESHOLD
    rules: Mapping[str, RuleConfig] = field(default_factory=dict)
    new_client_max_age_days: int = DEFAULT_NEW_CLIENT_MAX_AGE_DAYS
    free_email_domains: frozenset[str] = frozenset(defaults.FREE_EMAIL_DOMAINS)
    disposable_email_domains: frozenset[str] = frozenset(defaults.DISPOSABLE_EMAIL_DOMAINS)
    high_risk_countries: frozenset[str] = frozenset(defaults.HIGH_RISK_COUNTRIES)
    skip_for_clients_with_active_service: bool = False
    skip_for_orders_paid_by_credit: bool = False
    check_admin_orders: bool = True

    def rule(self, code: str) -> RuleConfig:
        configured = self.rules.get(code)
        return configured if configured is not None else _DEFAULT_RULE_CONFIGS[code]

    def with_rule(self, code: str, **changes: Any) -> FraudConfig:
        """A copy with one rule changed, e.g. `config.with_rule("ip_order_velocity", threshold=Decimal(5))`."""
        if code not in RULES:
            raise KeyError(f"No fraud rule {code!r}")
        return replace(self, rules={**self.rules, code: replace(self.rule(code), **changes)})


# --- Rules ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Situation:
    """What a rule looks at: the facts, the parsed IP, the GeoIP facts and the lists from the config."""

    facts: OrderFacts
    ip: IPFacts
    geoip: GeoIPFacts
    config: FraudConfig

    @property
    def billing_country(self) -> str:
        return self.facts.billing_country.strip().upper()

    @property
    def new_client_reason(self) -> str:
        """Why the client counts as new ("no earlier orders", "account 3 days old"), or "" when it does not.

        New: no earlier order, or an account younger than `new_client_max_age_days`.
        """
        if self.facts.earlier_orders == 0:
            return "no earlier orders"
        if self.facts.client_age_days < self.config.new_client_max_age_days:
            days = self.facts.client_age_days
            return f"account {days} day{'' if days == 1 else 's'} old"
        return ""


# A check returns the sentence when the rule fires, None when it stays silent.
RuleCheck = Callable[[Situation, RuleConfig], str | None]


@dataclass(frozen=True)
class RuleDefinition:
    code: str
    title: str
    check: RuleCheck
    default_points: int
    default_enabled: bool = True
    default_threshold: Decimal | None = None
    threshold_unit: str = ""  # what the threshold counts; empty for rules without one
    threshold_is_money: bool = False  # otherwise a whole number (km, orders, services)
    uses_geoip: bool = False

    @property
    def default_config(self) -> RuleConfig:
        return RuleConfig(enabled=self.default_enabled, points=self.default_points, threshold=self.default_threshold)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _money(amount: Decimal) -> str:
    return f"{amount.quantize(CENT, rounding=ROUND_HALF_UP):,}"


def _ip_country(situation: Situation) -> str:
    return country_label(situation.geoip.country_code, situation.geoip.country_name)


def ip_country_differs(situation: Situation, rule: RuleConfig) -> str | None:
    ip_country, billing_country = situation.geoip.country_code, situation.billing_country
    if not ip_country or not billing_country or ip_country == billing_country:
        return None
    return f"The IP address is in {_ip_country(situation)} but the billing country is {country_label(billing_country)}."


def high_risk_country(situation: Situation, rule: RuleConfig) -> str | None:
    risky = situation.config.high_risk_countries
    billing, ip_country = situation.billing_country, situation.geoip.country_code
    billing_risky, ip_risky = billing in risky, bool(ip_country) and ip_country in risky
    if billing_risky and ip_risky and billing == ip_country:
        return (
            f"The billing country and the IP address are both in {country_label(billing)}, "
            "which is on the high-risk list."
        )
    if billing_risky and ip_risky:
        return (
            f"The billing country {country_label(billing)} and the IP address's country {_ip_country(situation)} "
            "are on the high-risk list."
        )
    if billing_risky:
        return f"The billing country {country_label(billing)} is on the high-risk list."
    if ip_risky:
        return f"The IP address is in {_ip_country(situation)}, which is on the high-risk list."
    return None


def _network_label(geoip: GeoIPFacts) -> str:
    if geoip.asn is None:
        return geoip.network
    return f"AS{geoip.asn} {geoip.as_organization}".strip()


def anonymous_network(situation: Situation, rule: RuleConfig) -> str | None:
    geoip = situation.geoip
    kinds = [
        label
        for flag, label in (
            (geoip.is_tor_exit_node, "a Tor exit node"),
            (geoip.is_public_proxy, "a public proxy"),
            (geoip.is_anonymous_vpn, "an anonymous VPN"),
            (geoip.is_residential_proxy, "a residential proxy"),
        )
        if flag
    ]
    # GeoIP2 sets is_anonymous for hosting networks too; those are the hosting rule's business.
    if not kinds and not (geoip.is_anonymous and not geoip.is_hosting_provider):
        return None
    what = " and ".join(kinds) if kinds else "an anonymising network"
    network = _network_label(geoip)
    return f"The IP address belongs to {what}{f' ({network})' if network else ''}."


def hosting_network(situation: Situation, rule: RuleConfig) -> str | None:
    geoip = situation.geoip
    if not geoip.is_hosting_provider:
        return None
    network = _network_label(geoip)
    return f"The IP address belongs to a hosting provider's network{f' ({network})' if network else ''}."


def distance_km(latitude_1: float, longitude_1: float, latitude_2: float, longitude_2: float) -> float:
    """Great-circle distance (haversine) on the mean Earth sphere."""
    phi_1, phi_2 = math.radians(latitude_1), math.radians(latitude_2)
    d_phi, d_lambda = phi_2 - phi_1, math.radians(longitude_2 - longitude_1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi_1) * math.cos(phi_2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def ip_far_from_billing_city(situation: Situation, rule: RuleConfig) -> str | None:
    facts, geoip = situation.facts, situation.geoip
    if facts.billing_latitude is None or facts.billing_longitude is None or not geoip.has_location:
        return None
    # Whole kilometres: the sentence shows them, and "exactly N km" must not fire.
    km = round(distance_km(geoip.latitude, geoip.longitude, facts.billing_latitude, facts.billing_longitude))
    if km <= rule.threshold:
        return None
    ip_place = ", ".join(part for part in (geoip.city, geoip.country_code) if part) or geoip.network
    billing_place = ", ".join(part for part in (facts.billing_city.strip(), situation.billing_country) if part)
    return (
        f"The IP address is located {km:,} km from the billing city ({ip_place or 'IP location'} → "
        f"{billing_place or 'billing address'}); the limit is {rule.threshold:,.0f} km."
    )


def _listed_domain(domain: str, listed: frozenset[str]) -> str:
    """The listed domain that `domain` is or is a subdomain of (mail.yopmail.com → yopmail.com), or ""."""
    labels = domain.split(".")
    for start in range(len(labels) - 1):
        candidate = ".".join(labels[start:])
        if candidate in listed:
            return candidate
    return ""


def free_email_domain(situation: Situation, rule: RuleConfig) -> str | None:
    listed = _listed_domain(situation.facts.email_domain, situation.config.free_email_domains)
    return f"The email address is at the free email provider {listed}." if listed else None


def disposable_email_domain(situation: Situation, rule: RuleConfig) -> str | None:
    listed = _listed_domain(situation.facts.email_domain, situation.config.disposable_email_domains)
    return f"The email address is at the disposable email service {listed}." if listed else None


def earlier_fraud_order(situation: Situation, rule: RuleConfig) -> str | None:
    facts = situation.facts
    shared = [
        f"{what} ({_plural(count, 'order')})"
        for what, count in (
            ("IP address", facts.earlier_fraud_orders_same_ip),
            ("email address", facts.earlier_fraud_orders_same_email),
            ("client account", facts.earlier_fraud_orders_same_client),
        )
        if count
    ]
    if not shared:
        return None
    listed = shared[0] if len(shared) == 1 else ", ".join(shared[:-1]) + " and " + shared[-1]
    return f"Earlier orders marked as Fraud came from the same {listed}."


def ip_order_velocity(situation: Situation, rule: RuleConfig) -> str | None:
    orders = situation.facts.orders_from_ip_last_hour + 1  # this order counts
    if orders <= rule.threshold:
        return None
    address = situation.ip.address or situation.ip.raw or "this IP address"
    return f"{orders} orders came from {address} within an hour, this one included; the limit is {rule.threshold:,.0f}."


def new_client_large_order(situation: Situation, rule: RuleConfig) -> str | None:
    facts, new_because = situation.facts, situation.new_client_reason
    if not new_because:
        return None
    total = facts.order_total_in_default_currency
    if total <= rule.threshold:
        return None
    shown = f"{_money(facts.order_total)} {facts.currency}".strip()
    if facts.exchange_rate != 1:
        shown += f" ({_money(total)} in the default currency)"
    return (
        f"The client is new ({new_because}) and the order total of {shown} is above the limit of "
        f"{_money(rule.threshold)} for new clients."
    )


def new_client_many_services(situation: Situation, rule: RuleConfig) -> str | None:
    facts, new_because = situation.facts, situation.new_client_reason
    if not new_because or facts.has_paid_invoice or facts.services_ordered <= rule.threshold:
        return None
    return (
        f"The client is new ({new_because}), has never paid an invoice and orders "
        f"{_plural(facts.services_ordered, 'service')}; the limit is {rule.threshold:,.0f}."
    )


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def mixed_script_domain(situation: Situation, rule: RuleConfig) -> str | None:
    domains = situation.facts.mixed_script_domains
    if not domains:
        return None
    named = [
        f"{domain.name} ({domain.ascii_name}) mixes {_and(list(domain.scripts))} letters in '{domain.label}'"
        for domain in domains
    ]
    return (
        f"The domain name{'s' if len(domains) > 1 else ''} {'; '.join(named)}: one label in several scripts can "
        "imitate another name (a look-alike)."
    )


def malformed_ip(situation: Situation, rule: RuleConfig) -> str | None:
    ip = situation.ip
    if ip.is_valid or ip.raw is None:  # no IP at all (an order placed by an admin) is not a malformed one
        return None
    return f"The IP address sent with the order is malformed: {ip.problem}"


RULES: dict[str, RuleDefinition] = {
    rule.code: rule
    for rule in (
        RuleDefinition(
            code="ip_country_mismatch",
            title="IP country differs from billing country",
            check=ip_country_differs,
            default_points=50,
            uses_geoip=True,
        ),
        RuleDefinition(
            code="high_risk_country",
            title="IP or billing country on the high-risk list",
            check=high_risk_country,
            default_points=50,
        ),
        RuleDefinition(
            code="anonymous_network",
            title="IP is a Tor exit node, public proxy or anonymous VPN",
            check=anonymous_network,
            default_points=30,
            uses_geoip=True,
        ),
        RuleDefinition(
            code="hosting_network",
            title="IP belongs to a hosting provider",
            check=hosting_network,
            default_points=10,
            uses_geoip=True,
        ),
        RuleDefinition(
            code="ip_far_from_billing_city",
            title="IP location far from the billing city",
            check=ip_far_from_billing_city,
            default_points=20,
            default_threshold=Decimal("500"),
            threshold_unit="km",
            uses_geoip=True,
        ),
        RuleDefinition(
            code="free_email_domain",
            title="Email at a free email provider",
            check=free_email_domain,
            default_points=5,
        ),
        RuleDefinition(
            code="disposable_email_domain",
            title="Email at a disposable email service",
            check=disposable_email_domain,
            default_points=40,
        ),
        RuleDefinition(
            code="earlier_fraud_order",
            title="IP, email or client used by an earlier Fraud order",
            check=earlier_fraud_order,
            default_points=50,
        ),
        RuleDefinition(
            code="ip_order_velocity",
            title="Many orders from one IP within an hour",
            check=ip_order_velocity,
            default_points=30,
            default_threshold=Decimal("3"),
            threshold_unit="orders in one hour",
        ),
        RuleDefinition(
            code="new_client_large_order",
            title="Large order total from a new client",
            check=new_client_large_order,
            default_points=20,
            default_threshold=Decimal("500.00"),
            threshold_unit="order total in the default currency",
            threshold_is_money=True,
        ),
        RuleDefinition(
            code="new_client_many_services",
            title="New client who never paid orders many services",
            check=new_client_many_services,
            default_points=20,
            default_threshold=Decimal("3"),
            threshold_unit="services",
        ),
        RuleDefinition(
            code="mixed_script_domain",
            title="Domain name mixing scripts in one label (look-alike)",
            check=mixed_script_domain,
            default_points=30,
        ),
        RuleDefinition(
            code="malformed_ip",
            title="Malformed IP address sent with the order",
            check=malformed_ip,
            default_points=10,
            default_enabled=False,
        ),
    )
}


_DEFAULT_RULE_CONFIGS = {code: definition.default_config for code, definition in RULES.items()}


# --- Running the rules -----------------------------------------------------------------------------------------


class Locator(Protocol):
    def locate(self, address: IPAddress) -> GeoIPLookup: ...


def _skip_reason(facts: OrderFacts, config: FraudConfig) -> str:
    if config.skip_for_clients_with_active_service and facts.client_has_active_service:
        return "The check was skipped: the client has an active service."
    if config.skip_for_orders_paid_by_credit and facts.paid_by_credit:
        return "The check was skipped: the order is paid from the client's credit balance."
    if not config.check_admin_orders and facts.placed_by_admin:
        return "The check was skipped: an admin placed the order, and admin orders are not checked."
    return ""


def evaluate(
    facts: OrderFacts, config: FraudConfig, *, ip: IPFacts, geoip: GeoIPFacts, warnings: tuple[str, ...] = ()
) -> FraudResult:
    """Run the enabled rules over facts already gathered. Pure: same input, same result."""
    situation = Situation(facts=facts, ip=ip, geoip=geoip, config=config)
    fired = []
    for code, definition in RULES.items():
        rule = config.rule(code)
        if not rule.enabled:
            continue
        if definition.default_threshold is not None and rule.threshold is None:
            # The admin form refuses this; a config built by hand may not.
            raise ValueError(f"Fraud rule {code} needs a threshold ({definition.threshold_unit})")
        sentence = definition.check(situation, rule)
        if sentence is not None:
            fired.append(FiredRule(code=code, points=rule.points, sentence=sentence))
    score = min(MAX_SCORE, sum(rule.points for rule in fired))
    return FraudResult(
        score=score, threshold=config.threshold, rules=tuple(fired), ip=ip, geoip=geoip, warnings=warnings
    )


def check(facts: OrderFacts, config: FraudConfig, locator: Locator) -> FraudResult:
    """Parse the IP, look it up in GeoIP (when it is valid) and run the rules."""
    ip, address = parse_ip(facts.ip_address)
    skipped_reason = _skip_reason(facts, config)
    if skipped_reason:
        return FraudResult(
            score=0,
            threshold=config.threshold,
            rules=(),
            ip=ip,
            geoip=GeoIPFacts(unavailable_reason="Not looked up: the check was skipped."),
            skipped_reason=skipped_reason,
        )
    if address is None:
        return evaluate(facts, config, ip=ip, geoip=GeoIPFacts(unavailable_reason=ip.problem))
    lookup = locator.locate(address)
    return evaluate(facts, config, ip=ip, geoip=lookup.facts, warnings=lookup.warnings)
