"""Writes on services and domains, one module per concern. Functions that take an instance expect it locked by the
caller's transaction (see selectors.lock_order_items); each one records who did it and emits its event."""

from provisioning.outcomes import DomainActivated, ItemMove, ServiceActivated, WelcomeEmail
from provisioning.services.billing_dates import billing_dates_set, items_paid_through
from provisioning.services.cancellations import (
    CANCELLATION_REASON_MAX,
    CancellationsDone,
    cancellation_end,
    cancellation_refusal,
    cancellation_request,
    cancellation_withdraw,
    cancellations_carry_out,
)
from provisioning.services.domains import (
    DomainSpec,
    RenewalNoticeOutcome,
    domain_activate,
    domain_auto_renew_set,
    domain_cancel,
    domain_create,
    domain_renewal_notices_send,
    domain_save,
    domain_set_pending,
    domains_expire,
    epp_code_clean,
)
from provisioning.services.edits import (
    DOMAIN_EDITABLE,
    SERVICE_EDITABLE,
    FieldChange,
    ItemUpdated,
    domain_update,
    item_changes_validate,
    service_update,
)
from provisioning.services.overdue import (
    services_suspend_overdue,
    services_terminate_overdue,
    services_unsuspend_after_payment,
    services_unsuspend_paid,
)
from provisioning.services.services import (
    ServiceSpec,
    order_items_delete,
    service_activate,
    service_cancel,
    service_create,
    service_set_pending,
)
from provisioning.services.setup import service_setup

__all__ = [
    "CANCELLATION_REASON_MAX",
    "DOMAIN_EDITABLE",
    "SERVICE_EDITABLE",
    "CancellationsDone",
    "DomainActivated",
    "DomainSpec",
    "FieldChange",
    "ItemMove",
    "ItemUpdated",
    "RenewalNoticeOutcome",
    "ServiceActivated",
    "ServiceSpec",
    "WelcomeEmail",
    "billing_dates_set",
    "cancellation_end",
    "cancellation_refusal",
    "cancellation_request",
    "cancellation_withdraw",
    "cancellations_carry_out",
    "domain_activate",
    "domain_auto_renew_set",
    "domain_cancel",
    "domain_create",
    "domain_renewal_notices_send",
    "domain_save",
    "domain_set_pending",
    "domain_update",
    "domains_expire",
    "epp_code_clean",
    "item_changes_validate",
    "items_paid_through",
    "order_items_delete",
    "service_activate",
    "service_cancel",
    "service_create",
    "service_set_pending",
    "service_setup",
    "service_update",
    "services_suspend_overdue",
    "services_terminate_overdue",
    "services_unsuspend_after_payment",
    "services_unsuspend_paid",
]
