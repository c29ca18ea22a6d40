"""Webhook secrets are encrypted at rest (core.crypto, MultiFernet): each stored secret is encrypted into
secret_token, then the plain column is dropped. Going back decrypts them again."""

from django.db import migrations, models


def encrypt_secrets(apps, schema_editor):
    from core import crypto

    endpoint_model = apps.get_model("notifications", "WebhookEndpoint")
    for endpoint in endpoint_model.objects.only("pk", "secret"):
        endpoint_model.objects.filter(pk=endpoint.pk).update(secret_token=crypto.encrypt(endpoint.secret))


def decrypt_secrets(apps, schema_editor):
    from core import crypto

    endpoint_model = apps.get_model("notifications", "WebhookEndpoint")
    for endpoint in endpoint_model.objects.only("pk", "secret_token"):
        endpoint_model.objects.filter(pk=endpoint.pk).update(secret=crypto.decrypt(endpoint.secret_token))


class Migration(migrations.Migration):
    dependencies = [("notifications", "0010_emails")]

    operations = [
        migrations.AddField(
            model_name="webhookendpoint",
            name="secret_token",
            field=models.TextField(default="", editable=False),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="webhookendpoint",
            name="secret",
            field=models.CharField(max_length=100, editable=False, default=""),
        ),
        migrations.RunPython(encrypt_secrets, decrypt_secrets),
        migrations.RemoveField(model_name="webhookendpoint", name="secret"),
    ]
