"""The fraud check as the rest of the portal calls it.

`orders` builds an `OrderFacts`, calls `fraud_check`, stores `result.score` and `result.to_json()` on the order
and sends it to Fraud when `result.is_fraud`. The check writes nothing.
"""

from fraud.engine import FraudConfig, FraudResult, Locator, OrderFacts, check
from fraud.geoip import GeoIPLocator
from fraud.selectors import fraud_config_get


def fraud_check(*, facts: OrderFacts, config: FraudConfig | None = None, locator: Locator | None = None) -> FraudResult:
    """Score an order with the admin's settings (two queries) and the GeoIP databases named in the settings.

    Never raises for bad input from the request (a malformed IP) or a missing or damaged GeoIP database: those
    become facts and warnings in the result.
    """
    return check(
        facts,
        config if config is not None else fraud_config_get(),
        locator if locator is not None else GeoIPLocator.from_settings(),
    )
