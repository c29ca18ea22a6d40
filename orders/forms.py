from django import forms

from core.domain_names import normalize_domain_name
from core.inputs import PlainTextField


class ReasonForm(forms.Form):
    reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Recorded in the order history and the activity log.",
    )


class AcceptOrderForm(ReasonForm):
    """One checkbox per item and choice: svc_<id>_module, svc_<id>_welcome, dom_<id>_registrar."""

    def __init__(self, *args, services=(), domains=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.service_rows = []
        self.domain_rows = []
        for service in services:
            module = forms.BooleanField(required=False, initial=True, label="Run module create")
            welcome = forms.BooleanField(required=False, initial=True, label="Queue welcome email")
            self.fields[f"svc_{service.pk}_module"] = module
            self.fields[f"svc_{service.pk}_welcome"] = welcome
            self.service_rows.append((service, self[f"svc_{service.pk}_module"], self[f"svc_{service.pk}_welcome"]))
        for domain in domains:
            self.fields[f"dom_{domain.pk}_registrar"] = forms.BooleanField(
                required=False, initial=True, label="Send to registrar"
            )
            self.domain_rows.append((domain, self[f"dom_{domain.pk}_registrar"]))


class AddToCartForm(forms.Form):
    """A product with one of its prices, and the domain when the product needs one."""

    billing_cycle = forms.ChoiceField(label="Billing cycle")
    domain = PlainTextField(required=False, max_length=253, help_text="e.g. example.com")
    domain_action = forms.ChoiceField(
        required=False, choices=[("register", "Register it"), ("transfer", "Transfer it to us")], initial="register"
    )

    def __init__(self, *args, product, prices, currency, **kwargs):
        super().__init__(*args, **kwargs)
        self.product = product
        self.fields["billing_cycle"].choices = [
            (
                price.billing_cycle,
                f"{price.get_billing_cycle_display()}: {currency.format(price.price)}"
                + (f" + {currency.format(price.setup_fee)} setup" if price.setup_fee else ""),
            )
            for price in prices
        ]
        needs_domain = product.requires_domain or product.type == "domain"
        self.fields["domain"].required = needs_domain
        if product.type != "domain":
            del self.fields["domain_action"]
        if not needs_domain:
            self.fields["domain"].help_text = "Optional."

    def clean_domain(self) -> str:
        """Refused here with checkout's own reason, so the client reads it before the cart; checkout checks again."""
        domain = self.cleaned_data.get("domain", "").strip()
        if domain:
            normalize_domain_name(domain)
        return domain


class CheckoutForm(forms.Form):
    promo_code = PlainTextField(required=False, max_length=50, label="Promotion code")
    accept_terms = forms.BooleanField(label="I accept the terms of service")


class ProfileForm(forms.Form):
    """Single-line text only, as every client-area text input: control characters are a form error."""

    company_name = PlainTextField(required=False, max_length=200)
    contact_name = PlainTextField(max_length=200, label="Your name")
    address_1 = PlainTextField(required=False, max_length=200, label="Address")
    address_2 = PlainTextField(required=False, max_length=200, label="Address (line 2)")
    city = PlainTextField(required=False, max_length=100)
    state = PlainTextField(required=False, max_length=100, label="State / region")
    postcode = PlainTextField(required=False, max_length=20)
    country = PlainTextField(max_length=2, help_text="Two-letter code, e.g. DE")
    phone = PlainTextField(required=False, max_length=40)
