"""The automation app's migrations keep a database made before the app existed: its run log (from notifications), its
settings row (from billing), the periodic task of the daily run, the permissions staff were granted on those models
and the activity rows about the settings all come through, and the way back returns them as they were.

The database is migrated back to the migrations of the main branch before the move, filled through the historical
models, migrated forward, and read through today's models."""

import datetime
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

# The last migration of each app the move touches, on main before the automation app (automation: none at all).
BEFORE_THE_MOVE = {
    "notifications": "0004_event_and_email_without_like_indexes",
    "billing": "0007_reminder_and_late_fee_share_their_keys_index",
    "automation": None,
}
STARTED = datetime.datetime(2026, 12, 1, 3, 0, tzinfo=datetime.UTC)
LEVELS = [{"days": -3, "template": "invoice_reminder_upcoming"}, {"days": 5, "template": "invoice_overdue_first"}]


def _targets(executor: MigrationExecutor, moved: dict[str, str | None]) -> list[tuple[str, str | None]]:
    """Every other app at its last migration, the moved ones where `moved` says."""
    others = [node for node in executor.loader.graph.leaf_nodes() if node[0] not in moved]
    return others + list(moved.items())


def _migrate_back():
    """Migrate to the nodes of main before the move; returns the historical apps at those nodes."""
    executor = MigrationExecutor(connection)
    targets = _targets(executor, BEFORE_THE_MOVE)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state([node for node in targets if node[1] is not None]).apps


def _migrate_forward() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    ContentType.objects.clear_cache()  # the migrations moved content types under its cache


def _fill(old):
    """What a database on main holds, made with main's models."""
    run = old.get_model("notifications", "AutomationRun").objects.create(
        run_date=datetime.date(2026, 12, 1),
        trigger="beat",
        status="failed",
        started_at=STARTED,
        finished_at=STARTED + datetime.timedelta(minutes=4),
        daily=True,
    )
    step_run = old.get_model("notifications", "AutomationStepRun")
    steps = [
        step_run.objects.create(
            run=run,
            step="renewal_invoices",
            status="succeeded",
            counts={"invoices created": 12},
            started_at=STARTED,
            finished_at=STARTED + datetime.timedelta(minutes=1),
        ),
        step_run.objects.create(
            run=run,
            step="domain_expiry",
            status="failed",
            counts={"domains expired": 1},
            error_count=2,
            errors="first\nsecond",
            started_at=STARTED + datetime.timedelta(minutes=1),
        ),
    ]
    old.get_model("billing", "AutomationSettings").objects.create(
        pk=1,
        time_of_day=datetime.time(5, 15),
        invoice_lead_days=21,
        lead_days_by_cycle={"annually": 30},
        combined_invoicing=False,
        reminder_levels=LEVELS,
        late_fee_enabled=True,
        late_fee_type="percent",
        late_fee_amount=Decimal("12.50"),
        late_fee_minimum=Decimal("3.00"),
        terminate_enabled=True,
        terminate_after_days=45,
        domain_renewal_notice_days=[60, 14],
    )
    crontab = old.get_model("django_celery_beat", "CrontabSchedule").objects.create(
        minute="15", hour="5", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    periodic_task = old.get_model("django_celery_beat", "PeriodicTask")
    periodic_task.objects.all().delete()  # the one notifications' 0003 made, if the database still has it
    periodic_task.objects.create(
        name="Automation: the daily run", task="notifications.automation_run", crontab=crontab, queue="automation"
    )
    old.get_model("notifications", "ActivityLog").objects.create(
        actor_label="boss",
        action="automation_settings_changed",
        subject_type="billing.automationsettings",
        subject_id=1,
        message="Automation settings changed: Invoice lead days: 14 → 21",
    )
    return run, steps


def _grant(old):
    """Staff permissions on main's content types: a user holds two directly, a group one. The step run's content
    type of the automation app exists too already (a `migrate` run in parts makes it), with a group holding its
    view permission: its grants and the old one's meet."""
    content_type = old.get_model("contenttypes", "ContentType")
    permission = old.get_model("auth", "Permission")
    group_model = old.get_model("auth", "Group")

    def perm(app_label, model, codename):
        kind, _ = content_type.objects.get_or_create(app_label=app_label, model=model)
        return permission.objects.get_or_create(content_type=kind, codename=codename, defaults={"name": codename})[0]

    # As on main: no content type of the automation app but the one made early.
    content_type.objects.filter(app_label="automation").exclude(model="automationsteprun").delete()
    user = old.get_model("auth", "User").objects.create(username="operator", is_staff=True)
    user.user_permissions.add(
        perm("billing", "automationsettings", "change_automationsettings"),
        perm("notifications", "automationsteprun", "view_automationsteprun"),
    )
    auditors = group_model.objects.create(name="auditors")
    auditors.permissions.add(perm("notifications", "automationrun", "view_automationrun"))
    early = group_model.objects.create(name="early")
    early.permissions.add(perm("automation", "automationsteprun", "view_automationsteprun"))
    user.groups.add(auditors)
    old_step_kind = content_type.objects.get(app_label="notifications", model="automationsteprun")
    old.get_model("admin", "LogEntry").objects.create(
        user=user, content_type=old_step_kind, object_id="1", object_repr="a step", action_flag=2
    )
    return user


@pytest.mark.django_db(transaction=True)
def test_a_database_made_on_main_keeps_every_row_value_link_and_grant_through_the_move_and_back():
    from django.contrib.admin.models import LogEntry
    from django.contrib.auth.models import Group
    from django_celery_beat.models import PeriodicTask

    from automation.models import AutomationRun, AutomationSettings, AutomationStepRun
    from notifications.models import ActivityLog

    try:
        old = _migrate_back()
        run, steps = _fill(old)
        user = _grant(old)

        _migrate_forward()

        moved = AutomationRun.objects.get(pk=run.pk)
        assert (moved.run_date, moved.trigger, moved.status, moved.started_at, moved.daily) == (
            datetime.date(2026, 12, 1),
            "beat",
            "failed",
            STARTED,
            True,
        )
        assert list(moved.steps.values_list("pk", "step", "status", "counts", "error_count", "errors")) == [
            (steps[0].pk, "renewal_invoices", "succeeded", {"invoices created": 12}, 0, ""),
            (steps[1].pk, "domain_expiry", "failed", {"domains expired": 1}, 2, "first\nsecond"),
        ]
        # The step runs still point at their run through a real foreign key.
        with pytest.raises(IntegrityError), transaction.atomic():
            AutomationStepRun.objects.create(run_id=run.pk + 1000, step="orphan")

        settings = AutomationSettings.load()
        assert settings.pk == 1 and AutomationSettings.objects.count() == 1
        assert (
            settings.time_of_day,
            settings.invoice_lead_days,
            settings.lead_days_by_cycle,
            settings.combined_invoicing,
            settings.reminder_levels,
            settings.late_fee_enabled,
            settings.late_fee_type,
            settings.late_fee_amount,
            settings.late_fee_minimum,
            settings.terminate_enabled,
            settings.terminate_after_days,
            settings.domain_renewal_notice_days,
        ) == (
            datetime.time(5, 15),
            21,
            {"annually": 30},
            False,
            LEVELS,
            True,
            "percent",
            Decimal("12.50"),
            Decimal("3.00"),
            True,
            45,
            [60, 14],
        )

        task = PeriodicTask.objects.get(name="Automation: the daily run")
        assert (task.task, task.queue, task.crontab.hour, task.crontab.minute) == (
            "automation.run",
            "automation",
            "5",
            "15",
        )
        assert ActivityLog.objects.get(action="automation_settings_changed").subject_type == (
            "automation.automationsettings"
        )

        staff = get_user_model().objects.get(pk=user.pk)
        assert staff.has_perm("automation.change_automationsettings")
        assert staff.has_perm("automation.view_automationsteprun")
        assert staff.has_perm("automation.view_automationrun")  # through the group
        left_behind = ContentType.objects.filter(app_label__in=["notifications", "billing"], model__startswith="autom")
        assert not left_behind.exists()
        step_kind = ContentType.objects.get_for_model(AutomationStepRun)
        assert Group.objects.get(name="early").permissions.get().content_type == step_kind
        assert LogEntry.objects.get().content_type == step_kind

        # And back: main's models read what main wrote.
        old = _migrate_back()
        assert old.get_model("notifications", "AutomationStepRun").objects.filter(run_id=run.pk).count() == 2
        back = old.get_model("billing", "AutomationSettings").objects.get(pk=1)
        assert (back.invoice_lead_days, back.late_fee_amount, back.reminder_levels) == (21, Decimal("12.50"), LEVELS)
        assert old.get_model("django_celery_beat", "PeriodicTask").objects.get().task == "notifications.automation_run"
        activity = old.get_model("notifications", "ActivityLog").objects.get(action="automation_settings_changed")
        assert activity.subject_type == "billing.automationsettings"
        content_type = old.get_model("contenttypes", "ContentType")
        assert content_type.objects.filter(app_label="billing", model="automationsettings").exists()
        assert not content_type.objects.filter(app_label="automation").exists()
        back_user = old.get_model("auth", "User").objects.get(pk=user.pk)
        assert set(back_user.user_permissions.values_list("content_type__app_label", "codename")) == {
            ("billing", "change_automationsettings"),
            ("notifications", "view_automationsteprun"),
        }
    finally:
        _migrate_forward()
