"""Client-area forms of services: they check what was typed; the service decides the rest."""

from django import forms

from core.inputs import PlainTextField


class CancellationRequestForm(forms.Form):
    # Which `when` is allowed, and how long a reason may be, are cancellation_request's rules (and messages).
    when = forms.CharField(required=False)
    reason = PlainTextField(multiline=True, required=False)
