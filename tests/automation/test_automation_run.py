"""The automation run: steps in order, each recorded with its counts and errors, events around the run, dry
runs that write nothing, and the command's date, step and error handling. The domain expiry step serves as the
real step under test."""

import datetime
import io

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connection

from automation import registry
from automation.models import AutomationRun, AutomationStepRun
from automation.scheduler import automation_run
from notifications.models import Event
from provisioning.models import Domain
from tests.concurrency import at_once
from tests.factories import DomainFactory

DAY = datetime.date(2026, 12, 10)


def _domain(client, name, expiry_date, status=Domain.Status.ACTIVE):
    """A domain expiring on `expiry_date` with no renewal due: of the run's steps, only the expiry acts on it."""
    return DomainFactory(client=client, name=name, expiry_date=expiry_date, next_due_date=None, status=status)


def _step(outcome, name):
    return next(step for step in outcome.steps if step.name == name)


def _row_counts() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


@pytest.fixture
def domains(customer):
    return {
        "yesterday": _domain(customer, "gone.example", DAY - datetime.timedelta(days=1)),
        "today": _domain(customer, "last-day.example", DAY),
        "cancelled": _domain(customer, "old.example", DAY - datetime.timedelta(days=30), Domain.Status.CANCELLED),
    }


@pytest.mark.django_db
def test_a_run_expires_what_is_past_its_date_records_it_and_announces_itself(
    domains, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        outcome = automation_run(today=DAY)

    statuses = {name: Domain.objects.get(pk=d.pk).status for name, d in domains.items()}
    assert statuses == {"yesterday": "expired", "today": "active", "cancelled": "cancelled"}
    step = AutomationStepRun.objects.get(run_id=outcome.run_id, step="domain_expiry")
    assert (step.status, step.counts, step.error_count) == ("succeeded", {"domains expired": 1}, 0)
    assert AutomationRun.objects.get(pk=outcome.run_id).status == AutomationRun.Status.SUCCEEDED
    announced = ["PreCronJob", "DomainExpired", "DailyCronJob", "AfterCronJob"]
    names = Event.objects.filter(name__in=announced).order_by("id").values_list("name", flat=True)
    assert list(names) == announced


@pytest.mark.django_db
def test_a_run_of_chosen_steps_is_not_the_days_run(domains, monkeypatch):
    other = registry.Step(name="other", order=99, description="Counts.", run=lambda context: context.count("seen"))
    monkeypatch.setitem(registry._steps, "other", other)
    outcome = automation_run(today=DAY, only=["domain_expiry"], trigger="test")
    assert [step.name for step in outcome.steps] == ["domain_expiry"]
    assert not Event.objects.filter(name="DailyCronJob").exists()
    assert Event.objects.filter(name="AfterCronJob").count() == 1
    # The next full run is the day's run.
    assert _step(automation_run(today=DAY), "other").counts == {"seen": 1}
    assert Event.objects.filter(name="DailyCronJob").count() == 1


@pytest.mark.django_db
def test_running_the_same_date_again_does_nothing_twice(domains):
    automation_run(today=DAY)
    again = automation_run(today=DAY)
    assert _step(again, "domain_expiry").counts == {} and again.ok
    assert Event.objects.filter(name="DomainExpired").count() == 1
    # DailyCronJob once per date; PreCronJob and AfterCronJob once per run.
    assert Event.objects.filter(name="DailyCronJob").count() == 1
    assert Event.objects.filter(name="AfterCronJob").count() == 2
    automation_run(today=DAY + datetime.timedelta(days=1))
    assert Event.objects.filter(name="DailyCronJob").count() == 2
    assert Domain.objects.get(pk=domains["today"].pk).status == Domain.Status.EXPIRED


@pytest.mark.django_db
def test_a_dry_run_says_what_would_happen_and_writes_nothing(domains):
    before = _row_counts()
    outcome = automation_run(today=DAY, dry_run=True)
    assert _row_counts() == before
    assert outcome.run_id is None and _step(outcome, "domain_expiry").counts == {"domains expired": 1}
    assert _step(outcome, "domain_expiry").plan == [
        f"gone.example (client #{domains['yesterday'].client_id}) expired on 2026-12-09"
    ]
    assert Domain.objects.get(pk=domains["yesterday"].pk).status == Domain.Status.ACTIVE


@pytest.fixture
def broken_step(monkeypatch):
    def explode(context):
        context.count("looked at", 3)
        raise RuntimeError("the registrar API is down")

    monkeypatch.setitem(
        registry._steps, "broken", registry.Step(name="broken", order=1, description="Fails.", run=explode)
    )


@pytest.mark.django_db
def test_a_failing_step_is_recorded_and_the_next_step_still_runs(domains, broken_step):
    outcome = automation_run(today=DAY)
    names = [step.name for step in outcome.steps]
    assert names[0] == "broken" and names[-1] == "email_sweep" and len(names) == len(registry.registered_steps())
    assert not outcome.ok
    broken = AutomationStepRun.objects.get(run_id=outcome.run_id, step="broken")
    assert broken.status == "failed" and broken.error_count == 1
    assert "RuntimeError: the registrar API is down" in broken.errors and broken.counts == {"looked at": 3}
    assert AutomationRun.objects.get(pk=outcome.run_id).status == AutomationRun.Status.FAILED
    assert Domain.objects.get(pk=domains["yesterday"].pk).status == Domain.Status.EXPIRED
    # Every step ran, one with errors: the day's run happened, and hooks on DailyCronJob hear of it.
    assert Event.objects.filter(name="DailyCronJob").count() == 1


@pytest.mark.django_db
def test_the_command_refuses_a_bad_date_and_an_unknown_step_and_writes_nothing(domains):
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("run_automation", "--date", "10/12/2026")
    with pytest.raises(CommandError, match=r"Unknown step.*nope.*domain_expiry"):
        call_command("run_automation", "--step", "nope")
    assert not AutomationRun.objects.exists()


@pytest.mark.django_db
def test_the_command_prints_the_plan_of_a_dry_run(domains):
    out = io.StringIO()
    call_command("run_automation", "--date", DAY.isoformat(), "--dry-run", stdout=out, stderr=io.StringIO())
    text = out.getvalue()
    assert "Automation run for 2026-12-10 (DRY RUN: nothing was written)" in text
    assert "domain_expiry: succeeded; domains expired: 1" in text and "gone.example" in text
    assert not AutomationRun.objects.exists()


@pytest.mark.django_db
def test_the_command_fails_loudly_when_a_step_has_errors(domains, broken_step):
    out = io.StringIO()
    with pytest.raises(CommandError, match="Some steps had errors"):
        call_command("run_automation", "--date", DAY.isoformat(), stdout=out, stderr=io.StringIO())
    assert "! The step stopped: RuntimeError: the registrar API is down" in out.getvalue()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_expire_each_domain_once(customer):
    for n in range(40):
        _domain(customer, f"d{n}.example", DAY - datetime.timedelta(days=1 + n % 5))
    outcomes = at_once(lambda: automation_run(today=DAY, trigger="test"))
    expired = sum(_step(outcome, "domain_expiry").counts.get("domains expired", 0) for outcome in outcomes)
    assert expired == 40
    assert Event.objects.filter(name="DomainExpired").count() == 40
    assert Domain.objects.filter(status=Domain.Status.EXPIRED).count() == 40
    assert Event.objects.filter(name="DailyCronJob").count() == 1


@pytest.mark.django_db
def test_the_admin_shows_the_log_per_run_and_per_step_without_a_query_per_row(admin_client, domains, broken_step):
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    def queries_for(url_name, runs):
        for n in range(runs):
            automation_run(today=DAY + datetime.timedelta(days=n), trigger="test")
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.get(reverse(url_name))
        assert response.status_code == 200
        return len(queries), response.content.decode()

    few, _ = queries_for("admin:automation_automationsteprun_changelist", 1)
    many, page = queries_for("admin:automation_automationsteprun_changelist", 5)
    assert few == many and "domains expired" in page and "broken" in page
    run = AutomationRun.objects.filter(steps__step="broken").first()
    page = admin_client.get(reverse("admin:automation_automationrun_change", args=[run.pk])).content.decode()
    assert "the registrar API is down" in page and "domain_expiry" in page


@pytest.mark.django_db
def test_celery_beat_runs_the_same_steps_daily_on_their_own_queue(domains, settings):
    from django_celery_beat.models import PeriodicTask

    from automation.beat import DAILY_TASK_NAME, daily_run_schedule
    from automation.tasks import automation_run_task

    task = PeriodicTask.objects.get(name=DAILY_TASK_NAME)  # created by the migration
    assert (task.task, task.queue, task.crontab.hour, task.crontab.minute) == (
        "automation.run",
        "automation",
        "3",
        "0",
    )
    assert settings.CELERY_TASK_ROUTES["automation.run"] == {"queue": "automation"}
    daily_run_schedule(at=datetime.time(4, 30))
    task.refresh_from_db()
    assert (task.crontab.hour, task.crontab.minute) == ("4", "30")
    assert PeriodicTask.objects.filter(name=DAILY_TASK_NAME).count() == 1

    assert automation_run_task.delay(DAY.isoformat()).get() is True  # in-process here; a worker in production
    run = AutomationRun.objects.get()
    assert (run.trigger, run.run_date) == ("beat", DAY)
    assert Domain.objects.get(pk=domains["yesterday"].pk).status == Domain.Status.EXPIRED


@pytest.mark.django_db
def test_a_message_queued_under_the_tasks_name_before_the_move_still_runs_the_day(domains, settings):
    from config.celery import app

    before_the_move = app.tasks["notifications.automation_run"]
    assert settings.CELERY_TASK_ROUTES["notifications.automation_run"] == {"queue": "automation"}
    assert before_the_move.delay(DAY.isoformat()).get() is True
    assert AutomationRun.objects.get().trigger == "beat"
    assert Domain.objects.get(pk=domains["yesterday"].pk).status == Domain.Status.EXPIRED
