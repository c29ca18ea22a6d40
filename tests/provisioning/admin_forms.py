"""What the admin's service and domain pages post: every field the page shows, as it shows it, with changes on
top. `initial-next_due_date` is the due date the page showed (the billing-date service refuses a move from a date
that changed meanwhile)."""


def service_form(service, **changes) -> dict:
    data = {
        "server": "",
        "billing_cycle": service.billing_cycle,
        "recurring_amount": str(service.recurring_amount),
        "first_payment_amount": str(service.first_payment_amount),
        "module": service.module,
        "module_settings": "{}",
        "domain": service.domain,
        "username": service.username,
        "registration_date": service.registration_date.isoformat(),
        "next_due_date": service.next_due_date.isoformat(),
        "initial-next_due_date": service.next_due_date.isoformat(),
    }
    return {**data, **changes}


def domain_form(domain, **changes) -> dict:
    data = {
        "name": domain.name,
        "registration_type": domain.registration_type,
        "registration_period": str(domain.registration_period),
        "registrar": domain.registrar,
        "recurring_amount": str(domain.recurring_amount),
        "first_payment_amount": str(domain.first_payment_amount),
        "registration_date": domain.registration_date.isoformat(),
        "expiry_date": domain.expiry_date.isoformat(),
        "next_due_date": domain.next_due_date.isoformat(),
        "initial-next_due_date": domain.next_due_date.isoformat(),
    }
    return {**data, **changes}
