"""What the API shows of each object. Money is a decimal string with its currency's code beside it."""

from rest_framework import serializers

from billing.models import Client, Invoice, Transaction
from orders.models import Order, Product
from provisioning.models import Domain, Service


class ClientSerializer(serializers.ModelSerializer):
    currency = serializers.SlugRelatedField(slug_field="code", read_only=True)
    country = serializers.CharField(read_only=True)

    class Meta:
        model = Client
        fields = [
            "id",
            "company_name",
            "contact_name",
            "email",
            "city",
            "state",
            "postcode",
            "country",
            "phone",
            "currency",
            "credit_balance",
            "tax_exempt",
            "status",
            "created_at",
        ]
        read_only_fields = fields


class ClientOwned(serializers.ModelSerializer):
    """An object of a client's, in the client's currency."""

    currency = serializers.SlugRelatedField(slug_field="code", read_only=True)
    client = serializers.PrimaryKeyRelatedField(read_only=True)


class InvoiceSerializer(ClientOwned):
    number = serializers.CharField(source="display_number", read_only=True)

    class Meta:
        model = Invoice
        fields = [
            "id",
            "number",
            "client",
            "status",
            "date",
            "due_date",
            "paid_at",
            "currency",
            "subtotal",
            "credit_applied",
            "total",
            "amount_paid",
            "amount_refunded",
            "balance_due",
            "created_at",
        ]
        read_only_fields = fields


class ProductSerializer(serializers.ModelSerializer):
    group = serializers.CharField(source="group.name", read_only=True)

    class Meta:
        model = Product
        fields = ["id", "name", "description", "type", "group", "requires_domain", "taxable", "hidden", "retired"]
        read_only_fields = fields


class OrderSerializer(ClientOwned):
    invoice = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = Order
        fields = ["id", "number", "client", "status", "currency", "total", "invoice", "promo_code", "created_at"]
        read_only_fields = fields


class ServiceSerializer(ClientOwned):
    product = serializers.PrimaryKeyRelatedField(read_only=True)
    order = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = Service
        fields = [
            "id",
            "client",
            "order",
            "product",
            "domain",
            "username",
            "status",
            "suspension_reason",
            "billing_cycle",
            "currency",
            "first_payment_amount",
            "recurring_amount",
            "registration_date",
            "next_due_date",
            "termination_date",
        ]
        read_only_fields = fields


class DomainSerializer(ClientOwned):
    order = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = Domain
        fields = [
            "id",
            "client",
            "order",
            "name",
            "registration_type",
            "registration_period",
            "registrar",
            "status",
            "registration_date",
            "expiry_date",
            "next_due_date",
            "auto_renew",
            "transfer_lock",
            "nameservers",
            "currency",
            "first_payment_amount",
            "recurring_amount",
        ]
        read_only_fields = fields


class TransactionSerializer(ClientOwned):
    invoice = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    refund_of = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = Transaction
        fields = [
            "id",
            "kind",
            "client",
            "invoice",
            "refund_of",
            "gateway",
            "gateway_transaction_id",
            "date",
            "description",
            "currency",
            "amount_in",
            "amount_out",
            "fees",
        ]
        read_only_fields = fields


class CreditAddSerializer(serializers.Serializer):
    """The amount as a decimal string (its places are checked against the client's currency by the service)."""

    amount = serializers.RegexField(r"^[0-9]{1,14}(\.[0-9]+)?$", max_length=40)
    reason = serializers.CharField(max_length=500)
