from django import forms


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
            welcome = forms.BooleanField(required=False, initial=True, label="Send welcome email")
            self.fields[f"svc_{service.pk}_module"] = module
            self.fields[f"svc_{service.pk}_welcome"] = welcome
            self.service_rows.append((service, self[f"svc_{service.pk}_module"], self[f"svc_{service.pk}_welcome"]))
        for domain in domains:
            self.fields[f"dom_{domain.pk}_registrar"] = forms.BooleanField(
                required=False, initial=True, label="Send to registrar"
            )
            self.domain_rows.append((domain, self[f"dom_{domain.pk}_registrar"]))
