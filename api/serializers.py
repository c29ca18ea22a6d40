"""What the API shows of each object. Money is a decimal string with its currency's code beside it."""

from rest_framework import serializers

from billing.models import Client, Invoice


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


class InvoiceSerializer(serializers.ModelSerializer):
    number = serializers.CharField(source="display_number", read_only=True)
    currency = serializers.SlugRelatedField(slug_field="code", read_only=True)
    client = serializers.PrimaryKeyRelatedField(read_only=True)

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
