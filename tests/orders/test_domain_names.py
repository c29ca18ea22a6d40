"""Domain names are normalised with IDNA 2008 (UTS #46, non-transitional, by the `idna` package): what it accepts
is stored as registries write it, what it refuses is refused with the reason, and a label mixing scripts (a Cyrillic
letter among Latin ones) is a fact the fraud check scores."""

import pytest
from django.core.exceptions import ValidationError

from core.domain_names import mixed_script_labels, normalize_domain_name
from fraud.models import FraudRule
from orders.forms import AddToCartForm
from tests.factories import OrderFactory

CYRILLIC_A = "\u0430"  # looks like the Latin a
APPLE_WITH_CYRILLIC_A = f"{CYRILLIC_A}pple.com"

ACCEPTED = {
    "straße.de": "xn--strae-oqa.de",  # IDNA 2003 made it strasse.de, another name
    "xn--strae-oqa.de": "xn--strae-oqa.de",
    "XN--STRAE-OQA.DE": "xn--strae-oqa.de",
    "Bücher.DE": "xn--bcher-kva.de",
    "l·l.cat": "xn--ll-0ea.cat",  # a middle dot between two l's, as Catalan writes it
    "\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444": "xn--e1afmkfd.xn--p1ai",  # пример.рф
    "例え.jp": "xn--r8jz45g.jp",
    "EXAMPLE。COM": "example.com",  # an ideographic full stop is a dot
    " Shop.Example.com. ": "shop.example.com",
    "a" * 63 + ".com": "a" * 63 + ".com",
}

# name -> the reason the message gives. Each of these was accepted (changed) by the IDNA 2003 code, or refused
# without saying why.
REFUSED = {
    "xn--zz.com": "the label 'xn--zz' is not valid punycode",
    "xn--.com": "the label 'xn--' is not valid punycode",
    "xn---bbk.com": "the label 'xn---bbk' is not the standard punycode form of 'ま'",
    "xn--abc.com": "the label 'xn--abc' is punycode for '[U+0082][U+0081][U+0080]', and that contains U+0082",
    "soft\u00adhyphen.com": "it contains U+00AD SOFT HYPHEN, an invisible character IDNA 2008 does not allow",
    "zero\u200bwidth.com": "it contains U+200B ZERO WIDTH SPACE, an invisible character IDNA 2008 does not allow",
    "a\u200db.com": "the label 'a[U+200D]b' contains U+200D ZERO WIDTH JOINER where IDNA 2008 does not allow it",
    "x\u200cy.com": "the label 'x[U+200C]y' contains U+200C ZERO WIDTH NON-JOINER where IDNA 2008 does not allow it",
    "a·b.com": "the label 'a·b' contains '·' (U+00B7 MIDDLE DOT) where IDNA 2008 does not allow it",
    "a" * 64 + ".com": f"the label '{'a' * 64}' is too long: 64 characters in its ASCII form, at most 63",
    ("a" * 60 + ".") * 5 + "com": "it is 308 characters long in its ASCII form, at most 253",
    "a..com": "it has an empty part (two dots in a row, or a dot at the start)",
    ".example.com": "it has an empty part (two dots in a row, or a dot at the start)",
    "example.com..": "it has an empty part (two dots in a row, or a dot at the start)",
    "-abc.com": "the label '-abc' starts with a hyphen",
    "abc-.com": "the label 'abc-' ends with a hyphen",
    "ab--cd.com": "the label 'ab--cd' has hyphens in its 3rd and 4th places",
    "\u0301a.com": "starts with the combining mark U+0301 COMBINING ACUTE ACCENT",
    "ex_ample.com": "'_' (U+005F LOW LINE) is not allowed in a domain name",
    "😀.com": "contains '😀' (U+1F600 GRINNING FACE), which IDNA 2008 does not allow",
    "\u05d0a.com": "breaks the rule for right-to-left scripts (RFC 5893)",
    "localhost": "it needs a name and an extension, e.g. example.com",
    "example.c1": "the extension 'c1' is not a domain extension",
}


@pytest.mark.parametrize(("typed", "stored"), ACCEPTED.items(), ids=list(ACCEPTED))
def test_accepted_names_are_stored_in_their_idna_2008_ascii_form(typed, stored):
    assert normalize_domain_name(typed) == stored


@pytest.mark.parametrize(("typed", "why"), REFUSED.items(), ids=[repr(name)[:40] for name in REFUSED])
def test_refused_names_say_why(typed, why):
    with pytest.raises(ValidationError) as refused:
        normalize_domain_name(typed)
    (message,) = refused.value.messages
    assert "is not a valid domain name: " in message
    assert why in message


@pytest.mark.parametrize(
    ("name", "mixed"),
    [
        (APPLE_WITH_CYRILLIC_A, [(f"{CYRILLIC_A}pple", ("Cyrillic", "Latin"))]),
        ("\u03b1pple.com", [("\u03b1pple", ("Greek", "Latin"))]),  # a Greek alpha
        ("shop.\u0440a\u0443.example", [("\u0440a\u0443", ("Cyrillic", "Latin"))]),  # a later label
        ("apple.com", []),
        ("\u043f\u0440\u0438\u043c\u0435\u0440.com", []),  # all Cyrillic, next to a Latin extension
        ("bücher-24.de", []),  # Latin with a diacritic, digits and a hyphen
        ("例えtest.jp", []),  # Han, Hiragana and Latin are written together in Japanese
    ],
)
def test_labels_mixing_scripts_are_found(name, mixed):
    assert mixed_script_labels(normalize_domain_name(name)) == mixed


def test_the_store_form_refuses_a_name_with_the_reason(domain_product, usd):
    form = AddToCartForm(
        {"billing_cycle": "annually", "domain": "xn--zz.com", "domain_action": "register"},
        product=domain_product,
        prices=list(domain_product.pricing.all()),
        currency=usd,
    )
    assert not form.is_valid()
    why = "the label 'xn--zz' is not valid punycode"
    assert form.errors["domain"] == [f"'xn--zz.com' is not a valid domain name: {why}."]


@pytest.mark.django_db
def test_an_order_for_a_mixed_script_name_is_flagged_with_the_rules_explanation(customer, domain_product):
    order = OrderFactory(
        client=customer, product=domain_product, billing_cycle="annually", domain=APPLE_WITH_CYRILLIC_A
    )
    assert order.domains.get().name == "xn--pple-43d.com"
    fired = {rule["code"]: rule for rule in order.fraud_result["rules"]}
    assert fired["mixed_script_domain"] == {
        "code": "mixed_script_domain",
        "points": 30,
        "sentence": f"The domain name {APPLE_WITH_CYRILLIC_A} (xn--pple-43d.com) mixes Cyrillic and Latin letters in "
        f"'{CYRILLIC_A}pple': one label in several scripts can imitate another name (a look-alike).",
    }
    assert order.fraud_result["facts"]["mixed_script_domains"] == [
        {
            "name": APPLE_WITH_CYRILLIC_A,
            "ascii_name": "xn--pple-43d.com",
            "label": f"{CYRILLIC_A}pple",
            "scripts": ["Cyrillic", "Latin"],
        }
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["apple.com", "\u043f\u0440\u0438\u043c\u0435\u0440.com"], ids=["latin", "cyrillic"])
def test_an_order_for_a_name_in_one_script_is_not_flagged(customer, domain_product, name):
    order = OrderFactory(client=customer, product=domain_product, billing_cycle="annually", domain=name)
    assert "mixed_script_domain" not in {rule["code"] for rule in order.fraud_result["rules"]}
    assert order.fraud_result["facts"]["mixed_script_domains"] == []


@pytest.mark.django_db
def test_the_rule_is_configured_like_the_others(customer, domain_product):
    FraudRule.objects.filter(code="mixed_script_domain").update(points=55)
    order = OrderFactory(
        client=customer, product=domain_product, billing_cycle="annually", domain=APPLE_WITH_CYRILLIC_A
    )
    assert {rule["code"]: rule["points"] for rule in order.fraud_result["rules"]}["mixed_script_domain"] == 55
    assert order.status == order.Status.FRAUD  # 55 is at or above the threshold of 50

    FraudRule.objects.filter(code="mixed_script_domain").update(enabled=False)
    again = OrderFactory(
        client=customer, product=domain_product, billing_cycle="annually", domain=f"{CYRILLIC_A}pple.net"
    )
    assert "mixed_script_domain" not in {rule["code"] for rule in again.fraud_result["rules"]}


def test_a_stored_name_idna_2008_refuses_is_no_mixed_script_fact_and_no_crash():
    # Orders stored before IDNA 2008 was enforced, or names typed in the admin, reach the fraud re-check too.
    assert mixed_script_labels("xn--zz.com") == []
    assert mixed_script_labels("xn--ls8h.la") == []
