"""The billing admin, one module per concern. Every button that changes money or a status calls a service (the
rules live there); a refusal comes back as a form error and changes nothing. No list counts its table in full:
see core.admin_lists.BoundedCountPaginator."""

from billing.admin import clients, invoices, payments, reminders, settings  # noqa: F401 - registers the admins
