"""Handler runs keep when to retry; hook switches; Celery beat's bus sweep every minute (notifications.bus_sweep)."""

import django.utils.timezone
from django.db import migrations, models

SWEEP_TASK_NAME = "Events: dispatch what was left, and due retries"


def sweep_schedule(apps, schema_editor):
    interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = interval_model.objects.get_or_create(every=1, period="minutes")
    task_model.objects.get_or_create(
        name=SWEEP_TASK_NAME, defaults={"task": "notifications.bus_sweep", "interval": every_minute}
    )


def sweep_unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=SWEEP_TASK_NAME).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('notifications', '0007_audit_entry'),
        ('django_celery_beat', '0019_alter_periodictasks_options'),
    ]

    operations = [
        migrations.CreateModel(
            name='HookSwitch',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('event_name', models.CharField(max_length=64)),
                ('handler', models.CharField(help_text="The hook's dotted path, as the trigger map lists it.", max_length=200)),
                ('enabled', models.BooleanField(default=True)),
                ('updated_at', models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                'verbose_name': 'hook switch',
                'verbose_name_plural': 'hook switches',
                'ordering': ['event_name', 'handler'],
                'default_permissions': ('view', 'change'),
            },
        ),
        migrations.AddField(
            model_name='handlerrun',
            name='next_attempt_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name='handlerrun',
            index=models.Index(condition=models.Q(('next_attempt_at__isnull', False), ('status', 'failed')), fields=['next_attempt_at'], name='handler_run_retry_due'),
        ),
        migrations.AddConstraint(
            model_name='hookswitch',
            constraint=models.UniqueConstraint(fields=('event_name', 'handler'), name='hook_switch_once_per_hook'),
        ),
        migrations.RunPython(sweep_schedule, sweep_unschedule),
    ]
