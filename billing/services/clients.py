from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from billing.models import Client, Currency
from notifications.services import Actor, activity_record


def client_create(
    *,
    contact_name: str,
    email: str,
    country: str,
    currency: Currency,
    actor: Actor,
    company_name: str = "",
    address_1: str = "",
    city: str = "",
    state: str = "",
    postcode: str = "",
    phone: str = "",
    password: str | None = None,
) -> Client:
    """Create a client; with a password, also the user it logs in to the client area with (username = email)."""
    email = email.strip().lower()
    with transaction.atomic():
        client = Client(
            contact_name=contact_name,
            email=email,
            country=country.upper(),
            currency=currency,
            company_name=company_name,
            address_1=address_1,
            city=city,
            state=state,
            postcode=postcode,
            phone=phone,
        )
        client.full_clean(exclude=["status", "user"])  # a protected FSM field cannot be re-assigned by clean
        if password is not None:
            user_model = get_user_model()
            if user_model.objects.filter(username=email).exists():
                raise ValidationError({"email": f"A login for {email} already exists."})
            user = user_model(username=email, email=email, first_name=contact_name[:150])
            validate_password(password, user)
            user.set_password(password)
            user.save()
            client.user = user
        client.save()
        activity_record(
            actor=actor,
            action="client_created",
            subject=client,
            client_id=client.pk,
            message=f"Client {client} created",
        )
    return client


CONTACT_FIELDS = (
    "company_name",
    "contact_name",
    "address_1",
    "address_2",
    "city",
    "state",
    "postcode",
    "country",
    "phone",
)


def client_update_contact(*, client_id: int, changes: dict[str, str], actor: Actor) -> Client:
    """Change a client's contact details (not the login email, which is the account's identity)."""
    unknown = set(changes) - set(CONTACT_FIELDS)
    if unknown:
        raise ValidationError(f"These details cannot be changed here: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        client = Client.objects.select_for_update(of=("self",)).get(pk=client_id)
        before = {field: getattr(client, field) for field in changes}
        for field, value in changes.items():
            setattr(client, field, value.strip().upper() if field == "country" else value.strip())
        client.full_clean(exclude=["status", "user"])
        changed = [field for field in changes if getattr(client, field) != before[field]]
        if not changed:
            return client
        client.save(update_fields=changed)
        activity_record(
            actor=actor,
            action="client_contact_changed",
            subject=client,
            client_id=client.pk,
            message=f"Contact details changed: {', '.join(changed)}",
        )
    return client
