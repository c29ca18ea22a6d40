"""Client-area forms for a service's module actions."""

from django import forms

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
