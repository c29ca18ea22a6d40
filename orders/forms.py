from django import forms
from django.core.exceptions import ValidationError

from billing.cycles import BillingCycle
from core.domain_names import normalize_domain_name
from core.inputs import ID_MAX, PlainTextField
from orders.services import CartItem, ServiceAcceptOptions
from provisioning.domain_selectors import tlds_for_names
from provisioning.models import Domain, Tld
from provisioning.registrars.registry import choices as registrar_choices
from provisioning.services.domains import EPP_CODE_MAX, epp_code_clean
from provisioning.services.module_actions import PASSWORD_MAX_LENGTH, password_check
from provisioning.setup_choices import setup_choices, username_problem


class ReasonForm(forms.Form):
    reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Recorded in the order history and the activity log.",
    )


class AcceptOrderForm(ReasonForm):
    """Per service: svc_<id>_module and svc_<id>_welcome boxes and, for a service with a module, svc_<id>_server
    (blank: the product's server group picks), svc_<id>_username (pre-filled with the module's suggestion) and
    svc_<id>_password (blank: generated); per domain dom_<id>_registrar ("Send to registrar") and
    dom_<id>_registrar_name (which registrar, pre-filled with the domain's). A username the module refuses or a
    password outside the rules is an error on its field, and nothing is accepted."""

    def __init__(self, *args, services=(), domains=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.service_rows = []
        self.domain_rows = []
        self._services = {service.pk: service for service in services}
        choices = setup_choices(services)
        for service in services:
            prefix = f"svc_{service.pk}"
            self.fields[f"{prefix}_module"] = forms.BooleanField(
                required=False, initial=True, label="Run module create"
            )
            self.fields[f"{prefix}_welcome"] = forms.BooleanField(
                required=False, initial=True, label="Queue welcome email"
            )
            setup = choices.get(service.pk)
            if setup is not None:
                self.fields[f"{prefix}_server"] = forms.TypedChoiceField(
                    required=False,
                    coerce=int,
                    empty_value=None,
                    choices=[("", "Picked by the product's server group"), *setup.servers],
                    label="Server",
                )
                self.fields[f"{prefix}_username"] = PlainTextField(
                    required=False, max_length=64, initial=setup.suggested_username, label="Username"
                )
                self.fields[f"{prefix}_password"] = forms.CharField(
                    required=False,
                    strip=False,
                    max_length=PASSWORD_MAX_LENGTH,
                    widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
                    label="Password",
                    help_text="Blank: the module generates one.",
                )
            self.service_rows.append(
                (
                    service,
                    self[f"{prefix}_module"],
                    self[f"{prefix}_welcome"],
                    [self[f"{prefix}_{name}"] for name in ("server", "username", "password") if setup is not None],
                )
            )
        registrars = registrar_choices()
        tlds = tlds_for_names(names=[domain.name for domain in domains]) if domains else {}
        for domain in domains:
            tld = tlds.get(domain.name)
            by_hand = tld is not None and tld.register_when == Tld.RegisterWhen.BY_HAND
            self.fields[f"dom_{domain.pk}_registrar"] = forms.BooleanField(
                required=False,
                initial=not by_hand,
                label="Send to registrar",
                help_text="Its TLD is registered by hand: tick to send it anyway." if by_hand else "",
            )
            self.fields[f"dom_{domain.pk}_registrar_name"] = forms.ChoiceField(
                required=False,
                choices=[("", "None chosen: an admin registers it"), *registrars],
                initial=domain.registrar,
                label="Registrar",
            )
            self.domain_rows.append(
                (domain, self[f"dom_{domain.pk}_registrar"], self[f"dom_{domain.pk}_registrar_name"])
            )

    def clean(self):
        cleaned = super().clean()
        for pk, service in self._services.items():
            username = cleaned.get(f"svc_{pk}_username")
            if username and (problem := username_problem(service, username)):
                self.add_error(f"svc_{pk}_username", problem)
            password = cleaned.get(f"svc_{pk}_password")
            if password:
                try:
                    password_check(password)
                except ValidationError as error:
                    self.add_error(f"svc_{pk}_password", error)
        return cleaned

    def service_options(self) -> dict[int, ServiceAcceptOptions]:
        data = self.cleaned_data
        return {
            pk: ServiceAcceptOptions(
                run_module_create=data[f"svc_{pk}_module"],
                send_welcome_email=data[f"svc_{pk}_welcome"],
                server_id=data.get(f"svc_{pk}_server"),
                username=data.get(f"svc_{pk}_username") or "",
                password=data.get(f"svc_{pk}_password") or "",
            )
            for pk in self._services
        }


def _epp_code_field(label: str, help_text: str) -> forms.CharField:
    """A transfer's EPP code: not a PlainTextField (a code may hold any printable character; epp_code_clean says
    what it refuses), and never rendered back into the page."""
    return forms.CharField(
        required=False,
        strip=False,
        max_length=EPP_CODE_MAX,
        label=label,
        help_text=help_text,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )


class AddToCartForm(forms.Form):
    """A product with one of its prices, and the domain when the product needs one."""

    billing_cycle = forms.ChoiceField(label="Billing cycle")
    domain = PlainTextField(required=False, max_length=253, help_text="e.g. example.com")
    domain_action = forms.ChoiceField(
        required=False, choices=[("register", "Register it"), ("transfer", "Transfer it to us")], initial="register"
    )
    epp_code = _epp_code_field(
        "EPP code (for a transfer)",
        "The authorization code your current registrar gives you. Needed only to transfer the domain in.",
    )

    def __init__(self, *args, product, prices, currency, domain_years=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.product = product
        if product.type == "domain":
            # A domain is bought for a number of years (the TLD's price list on the page says for how much).
            del self.fields["billing_cycle"]
            self.fields["years"] = forms.TypedChoiceField(
                coerce=int, choices=[(n, f"{n} year{'s' if n > 1 else ''}") for n in domain_years], label="Years"
            )
            self.order_fields(["domain", "domain_action", "epp_code", "years"])
            self.fields["domain"].required = True
            return
        self.fields["billing_cycle"].choices = [
            (
                price.billing_cycle,
                f"{price.get_billing_cycle_display()}: {currency.format(price.price)}"
                + (f" + {currency.format(price.setup_fee)} setup" if price.setup_fee else ""),
            )
            for price in prices
        ]
        self.fields["domain"].required = product.requires_domain
        del self.fields["domain_action"]
        del self.fields["epp_code"]
        if not product.requires_domain:
            self.fields["domain"].help_text = "Optional."

    def clean_domain(self) -> str:
        """Refused here with checkout's own reason, so the client reads it before the cart; checkout checks again."""
        domain = self.cleaned_data.get("domain", "").strip()
        if domain:
            normalize_domain_name(domain)
        return domain

    def clean(self):
        cleaned = super().clean()
        if "epp_code" not in self.fields:
            return cleaned
        code = cleaned.get("epp_code") or ""
        domain = cleaned.get("domain") or ""
        if cleaned.get("domain_action") != "transfer" or not domain:
            cleaned["epp_code"] = ""  # a registration takes no code: none is kept
            return cleaned
        name = normalize_domain_name(domain)
        tld = tlds_for_names(names=[name]).get(name)
        if code.strip() or (tld is not None and tld.epp_code_required):  # no TLD settings: the code is optional
            try:
                cleaned["epp_code"] = epp_code_clean(code, name=name)
            except ValidationError as refused:
                self.add_error("epp_code", refused)
        return cleaned


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


# --- Add New Order (the admin's order desk) -----------------------------------------------------------------------

ORDER_DESK_MAX_LINES = 30  # per kind: products, domains
ORDER_DESK_NEW_LINES = 3  # blank lines of each kind offered at first, and added by "More lines"
DOMAIN_YEAR_CYCLES = {1: BillingCycle.ANNUALLY, 2: BillingCycle.BIENNIALLY, 3: BillingCycle.TRIENNIALLY}


class ClientSearchForm(forms.Form):
    q = PlainTextField(required=False, max_length=100, label="Find a client")


class ClientChosenForm(forms.Form):
    """The client in the page's address (?client=<id>) or the posted form."""

    client = forms.IntegerField(min_value=1, max_value=ID_MAX, widget=forms.HiddenInput)


class OrderDeskForm(ClientChosenForm):
    promo_code = PlainTextField(required=False, max_length=64, label="Promotion code")
    no_invoice = forms.BooleanField(
        required=False,
        label="Place it without an invoice",
        help_text="Nothing is billed for the first period; each item is first due after it.",
    )
    no_order_email = forms.BooleanField(
        required=False,
        label="Do not send the order confirmation email",
        help_text="The invoice's own email still goes when there is an invoice.",
    )


NOT_IN_CURRENCY = "That product is not sold in the client's currency, or is no longer for sale."


class ProductLineForm(forms.Form):
    product = forms.TypedChoiceField(
        coerce=int, empty_value=None, required=False, error_messages={"invalid_choice": NOT_IN_CURRENCY}
    )
    billing_cycle = forms.ChoiceField(choices=BillingCycle.choices, initial=BillingCycle.MONTHLY)
    domain = PlainTextField(required=False, max_length=253, help_text="When the product needs one.")

    def __init__(self, *args, products=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["product"].choices = [("", "—"), *products]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("domain", "").strip() and not cleaned.get("product"):
            self.add_error("product", "Choose the product this domain is for.")
        return cleaned

    def cart_item(self) -> CartItem | None:
        data = self.cleaned_data
        if not data.get("product"):
            return None
        return CartItem(product_id=data["product"], billing_cycle=data["billing_cycle"], domain=data["domain"])


class DomainLineForm(forms.Form):
    product = forms.TypedChoiceField(
        coerce=int, empty_value=None, required=False, label="TLD", error_messages={"invalid_choice": NOT_IN_CURRENCY}
    )
    name = PlainTextField(required=False, max_length=253, label="Domain name")
    action = forms.ChoiceField(choices=Domain.RegistrationType.choices, initial=Domain.RegistrationType.REGISTER)
    years = forms.TypedChoiceField(coerce=int, choices=[(years, years) for years in DOMAIN_YEAR_CYCLES], initial=1)
    epp_code = _epp_code_field("EPP code", "For a transfer: the code the client got from their current registrar.")

    def __init__(self, *args, domains=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["product"].choices = [("", "—"), *domains]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("product") and not cleaned.get("name", "").strip():
            self.add_error("name", "Enter the domain name to register or transfer.")
        if cleaned.get("name", "").strip() and not cleaned.get("product"):
            self.add_error("product", "Choose the domain's TLD (its product).")
        return cleaned

    def cart_item(self) -> CartItem | None:
        data = self.cleaned_data
        if not data.get("product"):
            return None
        return CartItem(
            product_id=data["product"],
            billing_cycle=DOMAIN_YEAR_CYCLES[data["years"]],
            domain=data["name"],
            domain_action=data["action"],
            epp_code=data.get("epp_code") or "",  # checked, and required where the TLD says so, by checkout
        )


def _line_formset(form):
    return forms.formset_factory(
        form,
        extra=ORDER_DESK_NEW_LINES,
        max_num=ORDER_DESK_MAX_LINES,
        absolute_max=ORDER_DESK_MAX_LINES,
        validate_max=True,
    )


ProductLineFormSet = _line_formset(ProductLineForm)
DomainLineFormSet = _line_formset(DomainLineForm)
