"""The automation app takes over the models of the run (from notifications) and its settings (from billing), with
every row: their tables were renamed by notifications 0005 and billing 0008, so the models are created here in the
state only, and nothing is dropped or copied. Then, in the database:

- the indexes get the names of this app (the unique constraint keeps its name, which already said "automation");
- the content types move to this app, so the permissions staff hold on them and the admin's log entries follow
  (if a content type of this app was made already, e.g. by a `migrate` run in parts, the old one's permissions,
  grants and log entries move onto it and the old one goes);
- the periodic task of the daily run names the task by its new name, automation.run (a message queued under the
  old name still runs: automation.tasks keeps a task of that name);
- the activity rows that name the settings as their subject name them by their new label.

Each of these is undone on the way back.
"""

import automation.models
import datetime
import django.db.models.deletion
import django.utils.timezone
from decimal import Decimal
from django.db import migrations, models




# (old app, model): the models that come to this app.
MOVED = (("notifications", "automationrun"), ("notifications", "automationsteprun"), ("billing", "automationsettings"))
TASK_BEFORE, TASK_AFTER = "notifications.automation_run", "automation.run"


def _move_content_type(apps, *, model, from_app, to_app):
    content_type = apps.get_model("contenttypes", "ContentType")
    permission = apps.get_model("auth", "Permission")
    source = content_type.objects.filter(app_label=from_app, model=model).first()
    if source is None:
        return
    target = content_type.objects.filter(app_label=to_app, model=model).first()
    if target is None:
        source.app_label = to_app
        source.save(update_fields=["app_label"])
        return
    # Both exist: what hangs on the source (permissions and who holds them, log entries) moves to the target.
    grants = [
        (permission.user_set.through, "user_id"),
        (permission.group_set.through, "group_id"),
    ]
    for old in permission.objects.filter(content_type=source):
        new = permission.objects.filter(content_type=target, codename=old.codename).first()
        if new is None:
            old.content_type = target
            old.save(update_fields=["content_type"])
            continue
        for through, holder in grants:
            holders = through.objects.filter(permission_id=new.pk).values_list(holder, flat=True)
            through.objects.filter(permission_id=old.pk, **{f"{holder}__in": list(holders)}).delete()
            through.objects.filter(permission_id=old.pk).update(permission_id=new.pk)
        old.delete()
    apps.get_model("admin", "LogEntry").objects.filter(content_type=source).update(content_type=target)
    source.delete()


def _rename_labels(apps, *, backwards):
    task = apps.get_model("django_celery_beat", "PeriodicTask")
    task_before, task_after = (TASK_AFTER, TASK_BEFORE) if backwards else (TASK_BEFORE, TASK_AFTER)
    if task.objects.filter(task=task_before).update(task=task_after):
        # Beat reloads its schedule when this row's time moves (django-celery-beat's PeriodicTasks.update_changed).
        apps.get_model("django_celery_beat", "PeriodicTasks").objects.update_or_create(
            ident=1, defaults={"last_update": django.utils.timezone.now()}
        )
    activity = apps.get_model("notifications", "ActivityLog")
    for old_app, model in MOVED:
        before, after = f"{old_app}.{model}", f"automation.{model}"
        if backwards:
            before, after = after, before
        activity.objects.filter(subject_type=before).update(subject_type=after)


def forwards(apps, schema_editor):
    for old_app, model in MOVED:
        _move_content_type(apps, model=model, from_app=old_app, to_app="automation")
    _rename_labels(apps, backwards=False)


def backwards(apps, schema_editor):
    for old_app, model in MOVED:
        _move_content_type(apps, model=model, from_app="automation", to_app=old_app)
    _rename_labels(apps, backwards=True)


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("notifications", "0005_automation_run_tables_to_automation"),
        ("billing", "0008_automation_settings_table_to_automation"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='AutomationSettings',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('time_of_day', models.TimeField(default=datetime.time(3, 0), help_text="When the daily run starts, in the portal's time zone.")),
                        ('invoice_lead_days', models.PositiveSmallIntegerField(default=14, help_text='Renewal invoices are generated this many days before the due date.', verbose_name='invoice lead days')),
                        ('lead_days_by_cycle', models.JSONField(blank=True, default=dict, help_text='Lead days for particular billing cycles (e.g. 30 for annual renewals); the other cycles use the invoice lead days.', verbose_name='lead days by billing cycle')),
                        ('combined_invoicing', models.BooleanField(default=True, help_text='One invoice per client and due date for all services and domains due that day, instead of one invoice each.')),
                        ('continuous_invoicing', models.BooleanField(default=False, help_text='Invoice the next period even while an earlier invoice of the same service is still unpaid.')),
                        ('reminder_levels', models.JSONField(blank=True, default=automation.models.default_reminder_levels, help_text='Each level emails the client once per invoice: days before the due date (negative), on it (0) or overdue (positive), and the email template to send.')),
                        ('late_fee_enabled', models.BooleanField(default=False, verbose_name='charge late fees')),
                        ('late_fee_type', models.CharField(choices=[('fixed', 'Fixed amount'), ('percent', 'Percent of the invoice total')], default='fixed', max_length=8)),
                        ('late_fee_amount', models.DecimalField(decimal_places=2, default=Decimal('0'), help_text="Fixed: the fee in the default currency (converted at the invoice currency's exchange rate). Percent: the percent of the invoice total, e.g. 10.", max_digits=14)),
                        ('late_fee_minimum', models.DecimalField(decimal_places=2, default=Decimal('0'), help_text='Percent only: the least fee charged, in the default currency like a fixed fee. 0: no minimum.', max_digits=14)),
                        ('late_fee_after_days', models.PositiveSmallIntegerField(default=7, help_text='Days overdue before the first late fee is added.')),
                        ('late_fee_repeat_days', models.PositiveSmallIntegerField(default=0, help_text='0: the fee is added once. N: another fee every N days while the invoice stays unpaid.')),
                        ('late_fee_max_count', models.PositiveSmallIntegerField(default=1, help_text='No invoice gets more late fees than this.', verbose_name='most late fees per invoice')),
                        ('suspend_enabled', models.BooleanField(default=True, verbose_name='suspend overdue services')),
                        ('suspend_after_days', models.PositiveSmallIntegerField(default=7, help_text='Days overdue before the services on an unpaid invoice are suspended.')),
                        ('suspend_email', models.BooleanField(default=True, help_text='Tell the client when a service is suspended.', verbose_name='email on suspension')),
                        ('unsuspend_on_payment', models.BooleanField(default=True, help_text='Lift an overdue suspension as soon as the invoice is paid (never one for abuse or made by an admin).')),
                        ('terminate_enabled', models.BooleanField(default=False, verbose_name='terminate overdue services')),
                        ('terminate_after_days', models.PositiveSmallIntegerField(default=30, help_text='Days overdue before the services on an unpaid invoice are terminated and their data deleted.')),
                        ('cancel_unpaid_orders_enabled', models.BooleanField(default=False, verbose_name='cancel unpaid orders')),
                        ('cancel_unpaid_orders_after_days', models.PositiveSmallIntegerField(default=14, help_text='A pending order whose invoice is still unpaid this many days after it was placed is cancelled.')),
                        ('domain_renewal_notice_days', models.JSONField(blank=True, default=automation.models.default_domain_renewal_notice_days, help_text='Days before a domain expires when its owner is reminded to renew (up to 5 notices).')),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                    ],
                    options={
                        'verbose_name': 'automation settings',
                        'verbose_name_plural': 'automation settings',
                    },
                ),
                migrations.CreateModel(
                    name='AutomationRun',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('run_date', models.DateField(help_text='The date the steps ran as.')),
                        ('trigger', models.CharField(help_text='What started it: the command, Celery beat, an admin.', max_length=32)),
                        ('status', models.CharField(choices=[('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Had errors')], default='running', max_length=16)),
                        ('started_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('daily', models.BooleanField(default=False, help_text='This run announced DailyCronJob: the first run of its date that ran every step.')),
                    ],
                    options={
                        'ordering': ['-started_at', '-id'],
                        'indexes': [models.Index(fields=['run_date'], name='notificatio_run_dat_bf17a1_idx')],
                        'constraints': [models.UniqueConstraint(condition=models.Q(('daily', True)), fields=('run_date',), name='automation_daily_event_once_per_date')],
                    },
                ),
                migrations.CreateModel(
                    name='AutomationStepRun',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('step', models.CharField(max_length=64)),
                        ('status', models.CharField(choices=[('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Had errors'), ('skipped', 'Skipped: another run held it')], default='running', max_length=16)),
                        ('counts', models.JSONField(blank=True, default=dict)),
                        ('error_count', models.PositiveIntegerField(default=0)),
                        ('errors', models.TextField(blank=True, help_text='The first errors, one per line (all of them are logged).')),
                        ('started_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('run', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='steps', to='automation.automationrun')),
                    ],
                    options={
                        'ordering': ['run', 'id'],
                        'indexes': [models.Index(fields=['step', 'started_at'], name='notificatio_step_eb1d59_idx')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RenameIndex(
            model_name="automationrun", new_name="automationrun_run_date", old_name="notificatio_run_dat_bf17a1_idx"
        ),
        migrations.RenameIndex(
            model_name="automationsteprun",
            new_name="automationsteprun_step_started",
            old_name="notificatio_step_eb1d59_idx",
        ),
        migrations.RunPython(forwards, backwards),
    ]
