from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from automation.cycles import billing_cycles_register

        # automation registers the run's steps; tasks registers the tasks that services enqueue by name.
        from billing import automation, tasks  # noqa: F401
        from billing.cycles import BillingCycle

        # The automation settings' lead days are per billing cycle; automation, below billing, learns them here.
        billing_cycles_register((cycle.value, bool(cycle.months)) for cycle in BillingCycle)

        from billing.pdf import INVOICE_PDF, invoice_pdf_attachment
        from notifications.emails.attachments import attachment_renderer

        # Invoice emails name their PDF by reference; billing renders it when the email is sent.
        attachment_renderer(INVOICE_PDF)(invoice_pdf_attachment)
