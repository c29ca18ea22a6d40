"""Client-area forms for a service's module actions."""

from django import forms

from core.inputs import PlainTextField

NONCE_PATTERN = r"\A[0-9a-f]{32}\Z"  # provisioning.queue.requests.new_nonce: uuid4().hex


class PasswordResetForm(forms.Form):
    """The reset asks for nothing but the form's one-time token: the portal generates the password, so there is
    no chosen one to check (control characters, length) and the module gets one its server accepts."""

    nonce = forms.RegexField(
        regex=NONCE_PATTERN,
        error_messages={
            "required": "This form has expired: open the service page and try again.",
            "invalid": "This form has expired: open the service page and try again.",
        },
    )


_EXPIRED = {
    "required": "This form has expired: open the domain page and try again.",
    "invalid": "This form has expired: open the domain page and try again.",
}


class DomainChangeForm(forms.Form):
    """A change the client asks of the domain's registrar. The service checks the values (nameservers, contact)
    as the registrar needs them; this form only reads them as text."""

    nonce = forms.RegexField(regex=NONCE_PATTERN, error_messages=_EXPIRED)
    nameservers = PlainTextField(
        required=False, multiline=True, max_length=4000, widget=forms.Textarea(attrs={"rows": 4})
    )
    locked = forms.BooleanField(required=False)
    name = PlainTextField(required=False, max_length=200)
    organisation = PlainTextField(required=False, max_length=200)
    email = forms.EmailField(required=False, max_length=254)
    phone = PlainTextField(required=False, max_length=40)
    street = PlainTextField(required=False, max_length=200)
    city = PlainTextField(required=False, max_length=100)
    state = PlainTextField(required=False, max_length=100)
    postcode = PlainTextField(required=False, max_length=20)
    country = PlainTextField(required=False, max_length=2)


class AutoRenewForm(forms.Form):
    on = forms.BooleanField(required=False)


class EppCodeForm(forms.Form):
    """A new EPP code for a transfer in; the service checks it (provisioning.services.domains.epp_code_clean)."""

    epp_code = forms.CharField(strip=False, max_length=500, error_messages={"required": "Enter the EPP code."})
