from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import models, transaction

from billing.models import Client, Currency
from billing.services.changes import changes_described
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
    address_2: str = "",
    tax_exempt: bool = False,
    notes: str = "",
    user=None,
    password: str | None = None,
) -> Client:
    """Create a client, in one activity row; with a password, also the user it logs in to the client area with
    (username = email), or linked to an existing `user` (the admin's page)."""
    if user is not None and password is not None:
        raise ValidationError("A new client gets either a new login (a password) or an existing one, not both.")
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
            address_2=address_2,
            tax_exempt=tax_exempt,
            notes=notes,
            user=user,
        )
        # A protected FSM field cannot be re-assigned by clean; a login made below is new, so checked there.
        client.full_clean(exclude=["status"] if user is not None else ["status", "user"])
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


# What the admin's client page edits; status moves by its transitions, credit through the ledger.
CLIENT_EDITABLE_FIELDS = ("user", "email", *CONTACT_FIELDS, "currency", "tax_exempt", "notes")


def _client_changes_apply(client: Client, changes: dict) -> list[str]:
    """Set the changes on the client (not saved) and check them as the rest of the domain does; returns the
    fields that really changed. Raises ValidationError, per field, for what is refused."""
    unknown = set(changes) - set(CLIENT_EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(f"These client fields cannot be changed here: {', '.join(sorted(unknown))}.")
    before = {field: getattr(client, field) for field in changes}
    for field, value in changes.items():
        if isinstance(value, str):
            value = value.strip()
            value = value.upper() if field == "country" else value.lower() if field == "email" else value
        setattr(client, field, value)
    client.full_clean(exclude=["status"])  # a protected FSM field cannot be re-assigned by clean
    changed = [field for field in changes if getattr(client, field) != before[field]]
    errors: dict[str, list[str]] = {}
    if "currency" in changed and (client.invoices.exists() or client.transactions.exists()):
        errors["currency"] = [
            f"{client} has invoices or credit in {before['currency']}: the currency of a client with a billing "
            "history cannot change."
        ]
    if "email" in changed and client.user_id is not None:
        # The log-in email is the account's identity (username = email): another login may not have it.
        taken = get_user_model().objects.filter(username__iexact=client.email).exclude(pk=client.user_id)
        if taken.exists():
            errors["email"] = [f"A login for {client.email} already exists."]
    if errors:
        raise ValidationError(errors)
    return changed


def client_update_validate(*, client_id: int, changes: dict) -> None:
    """Refuse what client_update would refuse, writing nothing (the admin form shows it on its fields)."""
    _client_changes_apply(Client.objects.get(pk=client_id), changes)


def client_update(*, client_id: int, changes: dict, actor: Actor) -> Client:
    """An admin's edit of a client: locked, checked as the rest of the domain checks a client (the log-in email
    valid and not another login's, no currency change once it has invoices or credit), saved field by field and
    logged with each field before and after. The client's login follows its email: it is the username too."""
    with transaction.atomic():
        client = Client.objects.select_for_update(of=("self",)).select_related("currency", "user").get(pk=client_id)
        before = {field: _logged(getattr(client, field)) for field in CLIENT_EDITABLE_FIELDS}
        changed = _client_changes_apply(client, changes)
        if not changed:
            return client
        client.save(update_fields=changed)
        if client.user_id is not None and "email" in changed:
            user = get_user_model().objects.select_for_update().get(pk=client.user_id)
            # A client's login is its email (client_create makes it so); a login named otherwise (a staff
            # account linked to a client) keeps its name.
            if user.username.lower() == str(before["email"]).lower() and not user.is_staff:
                user.username = user.email = client.email
                user.save(update_fields=["username", "email"])
        after = {field: _logged(getattr(client, field)) for field in CLIENT_EDITABLE_FIELDS}
        activity_record(
            actor=actor,
            action="client_changed",
            subject=client,
            client_id=client.pk,
            message=f"Client {client} changed: " + changes_described(before, after, fields=changed),
        )
    return client


def _logged(value):
    return str(value) if isinstance(value, models.Model) else value  # a currency by its code, a login by its name
