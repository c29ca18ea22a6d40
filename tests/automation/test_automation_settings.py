"""The automation settings: one row with safe defaults, every rule refusing with its message and changing
nothing, each change logged once with its actor, and the admin page that edits the lists as plain text."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from automation.forms import AutomationSettingsForm, LeadDaysByCycleField, ReminderLevelsField
from automation.models import AutomationSettings
from automation.services import automation_settings_update, automation_settings_validate, automation_settings_values
from notifications.models import ActivityLog

DEFAULT_LEVELS = [
    {"days": -7, "template": "invoice_reminder_upcoming"},
    {"days": 0, "template": "invoice_reminder_due"},
    {"days": 1, "template": "invoice_overdue_first"},
    {"days": 7, "template": "invoice_overdue_second"},
    {"days": 14, "template": "invoice_overdue_third"},
]
DEFAULT_LEVELS_TEXT = (
    "-7 invoice_reminder_upcoming\n0 invoice_reminder_due\n1 invoice_overdue_first\n"
    "7 invoice_overdue_second\n14 invoice_overdue_third"
)


def _row() -> dict:
    return AutomationSettings.objects.values().get(pk=1)


def _levels(*days: int) -> list[dict]:
    return [{"days": day, "template": f"reminder_{abs(day)}"} for day in days]


# --- defaults --------------------------------------------------------------------------------------------------


def test_the_defaults_load_as_one_row(db):
    row = AutomationSettings.load()
    assert AutomationSettings.load().pk == row.pk == 1 and AutomationSettings.objects.count() == 1
    assert automation_settings_values(row) == {
        "time_of_day": datetime.time(3, 0),
        "invoice_lead_days": 14,
        "lead_days_by_cycle": {},
        "combined_invoicing": True,
        "continuous_invoicing": False,
        "reminder_levels": DEFAULT_LEVELS,
        "late_fee_enabled": False,
        "late_fee_type": "fixed",
        "late_fee_amount": Decimal("0"),
        "late_fee_minimum": Decimal("0"),
        "late_fee_after_days": 7,
        "late_fee_repeat_days": 0,
        "late_fee_max_count": 1,
        "suspend_enabled": True,
        "suspend_after_days": 7,
        "suspend_email": True,
        "unsuspend_on_payment": True,
        "terminate_enabled": False,
        "terminate_after_days": 30,
        "cancel_unpaid_orders_enabled": False,
        "cancel_unpaid_orders_after_days": 14,
        "auto_setup_known_clients_only": False,
        "domain_renewal_notice_days": [30, 7],
    }


def test_the_defaults_pass_the_rules(db):
    automation_settings_validate(automation_settings_values(AutomationSettings.load()))


def test_each_row_gets_its_own_default_lists(db):
    first = AutomationSettings()
    first.reminder_levels.append({"days": 30, "template": "x"})
    first.domain_renewal_notice_days.append(1)
    assert AutomationSettings().reminder_levels == DEFAULT_LEVELS
    assert AutomationSettings().domain_renewal_notice_days == [30, 7]


# --- the rules -------------------------------------------------------------------------------------------------

REFUSED = [
    # (changes, field, part of the message)
    ({"invoice_lead_days": -1}, "invoice_lead_days", "Invoice lead days cannot be negative: -1."),
    ({"invoice_lead_days": 3651}, "invoice_lead_days", "Invoice lead days can be at most 3650"),
    ({"invoice_lead_days": "14"}, "invoice_lead_days", "Invoice lead days must be a whole number."),
    ({"suspend_after_days": -3}, "suspend_after_days", "Suspend after days cannot be negative: -3."),
    ({"terminate_after_days": -1}, "terminate_after_days", "Terminate after days cannot be negative"),
    ({"late_fee_after_days": -1}, "late_fee_after_days", "Late fee after days cannot be negative"),
    ({"late_fee_repeat_days": -2}, "late_fee_repeat_days", "Late fee repeat days cannot be negative: -2."),
    ({"late_fee_amount": Decimal("-1.00")}, "late_fee_amount", "The amount cannot be negative: -1.00."),
    ({"late_fee_minimum": Decimal("-0.01")}, "late_fee_minimum", "The amount cannot be negative: -0.01."),
    ({"late_fee_amount": Decimal("1.005")}, "late_fee_amount", "Use at most 2 decimal places: 1.005."),
    ({"late_fee_amount": 2.5}, "late_fee_amount", "Give the amount as a decimal number"),
    (
        {"late_fee_type": "percent", "late_fee_amount": Decimal("100.01")},
        "late_fee_amount",
        "A percent late fee can be at most 100%, not 100.01%.",
    ),
    (
        {"late_fee_enabled": True, "late_fee_amount": Decimal("0")},
        "late_fee_amount",
        "Late fees are on but the fee is 0",
    ),
    ({"late_fee_type": "daily"}, "late_fee_type", "Choose fixed or percent."),
    ({"late_fee_max_count": 0}, "late_fee_max_count", "Most late fees per invoice cannot be less than 1: 0."),
    ({"late_fee_max_count": 101}, "late_fee_max_count", "Most late fees per invoice can be at most 100"),
    (
        {"terminate_enabled": True, "suspend_after_days": 7, "terminate_after_days": 7},
        "terminate_after_days",
        "Termination must come after suspension: terminating after 7 days overdue does not come after "
        "suspending after 7 days.",
    ),
    (
        {"terminate_enabled": True, "suspend_after_days": 10, "terminate_after_days": 5},
        "terminate_after_days",
        "Termination must come after suspension",
    ),
    (
        {"cancel_unpaid_orders_after_days": 0},
        "cancel_unpaid_orders_after_days",
        "Cancel unpaid orders after days cannot be less than 1: 0.",
    ),
    ({"lead_days_by_cycle": {"weekly": 3}}, "lead_days_by_cycle", "'weekly' is not a billing cycle that renews"),
    ({"lead_days_by_cycle": {"onetime": 3}}, "lead_days_by_cycle", "One-time purchases never renew"),
    ({"lead_days_by_cycle": {"annually": -1}}, "lead_days_by_cycle", "The lead days for annually cannot be negative"),
    ({"lead_days_by_cycle": {"annually": "30"}}, "lead_days_by_cycle", "must be a whole number"),
    ({"lead_days_by_cycle": [["annually", 30]]}, "lead_days_by_cycle", "must map billing cycles to days"),
    ({"reminder_levels": {"days": 7}}, "reminder_levels", "Reminder levels must be a list"),
    ({"reminder_levels": [{"days": 7}]}, "reminder_levels", "Level 1: give exactly the days and the template"),
    ({"reminder_levels": [7, "invoice_due"]}, "reminder_levels", "Level 1: give exactly the days and the template"),
    (
        {"reminder_levels": [{"days": 7, "template": "a", "subject": "b"}]},
        "reminder_levels",
        "Level 1: give exactly the days and the template",
    ),
    (
        {"reminder_levels": [{"days": "7", "template": "a"}]},
        "reminder_levels",
        "The days of level 1 must be a whole number.",
    ),
    ({"reminder_levels": [{"days": True, "template": "a"}]}, "reminder_levels", "must be a whole number"),
    (
        {"reminder_levels": [*_levels(1), {"days": -3651, "template": "a"}]},
        "reminder_levels",
        "The days of level 2 cannot be less than -3650: -3651.",
    ),
    (
        {"reminder_levels": [*_levels(1), {"days": 2, "template": ""}]},
        "reminder_levels",
        "Level 2: name the email template to send.",
    ),
    (
        {"reminder_levels": [{"days": 2, "template": "Invoice-Due"}]},
        "reminder_levels",
        "the template name 'Invoice-Due' may hold only lower-case letters, digits and underscores",
    ),
    (
        {"reminder_levels": [{"days": 2, "template": "a" * 65}]},
        "reminder_levels",
        "the template name can be at most 64 characters",
    ),
    (
        {"reminder_levels": [*_levels(-7, 7), {"days": 7, "template": "other"}]},
        "reminder_levels",
        "Two reminder levels are set for day 7: each day can have only one level.",
    ),
    ({"reminder_levels": _levels(*range(1, 22))}, "reminder_levels", "At most 20 reminder levels: 21 were given."),
    ({"domain_renewal_notice_days": [30, 30]}, "domain_renewal_notice_days", "30 is given twice"),
    ({"domain_renewal_notice_days": [30, 0]}, "domain_renewal_notice_days", "A renewal notice cannot be less than 1"),
    ({"domain_renewal_notice_days": [-5]}, "domain_renewal_notice_days", "cannot be less than 1: -5."),
    ({"domain_renewal_notice_days": [1, 2, 3, 4, 5, 6]}, "domain_renewal_notice_days", "At most 5 domain renewal"),
    ({"domain_renewal_notice_days": "30, 7"}, "domain_renewal_notice_days", "must be a list of days"),
    ({"time_of_day": "03:00"}, "time_of_day", "Give a time of day, e.g. 03:00."),
    ({"combined_invoicing": "yes"}, "combined_invoicing", "Must be on or off."),
]


@pytest.mark.parametrize(("changes", "field", "message"), REFUSED)
def test_a_refused_setting_says_why_and_changes_nothing(changes, field, message, admin_user):
    AutomationSettings.load()
    before = _row()
    with pytest.raises(ValidationError) as refused:
        automation_settings_update(actor=admin_user, **changes)
    assert list(refused.value.message_dict) == [field]
    assert any(message in text for text in refused.value.message_dict[field]), refused.value.message_dict
    assert _row() == before
    assert not ActivityLog.objects.exists()


def test_every_wrong_setting_is_reported_at_once(db):
    values = automation_settings_values(AutomationSettings.load())
    with pytest.raises(ValidationError) as refused:
        automation_settings_validate(
            {**values, "invoice_lead_days": -1, "reminder_levels": _levels(7, 7), "late_fee_max_count": 0}
        )
    assert sorted(refused.value.message_dict) == ["invoice_lead_days", "late_fee_max_count", "reminder_levels"]


def test_an_unknown_setting_is_refused(admin_user):
    AutomationSettings.load()
    before = _row()
    with pytest.raises(ValidationError) as refused:
        automation_settings_update(actor=admin_user, invoice_lead_days=3, invoice_days=3, updated_at=None)
    assert refused.value.messages == ["These are not automation settings: invoice_days, updated_at."]
    assert _row() == before and not ActivityLog.objects.exists()


ALLOWED = [
    {"terminate_enabled": True, "suspend_after_days": 7, "terminate_after_days": 8},
    # Without suspension, termination may come at any time; without termination, its days are not compared.
    {"suspend_enabled": False, "terminate_enabled": True, "suspend_after_days": 30, "terminate_after_days": 5},
    {"terminate_enabled": False, "suspend_after_days": 60, "terminate_after_days": 30},
    {"late_fee_enabled": True, "late_fee_type": "percent", "late_fee_amount": Decimal("100")},
    {"reminder_levels": _levels(*range(-10, 10))},
    {"reminder_levels": []},
    {"domain_renewal_notice_days": [90, 60, 30, 7, 1]},
    {"domain_renewal_notice_days": []},
    {"lead_days_by_cycle": {"monthly": 0, "triennially": 3650}},
    {"late_fee_max_count": 100, "late_fee_repeat_days": 0, "invoice_lead_days": 0},
]


@pytest.mark.parametrize("changes", ALLOWED)
def test_an_allowed_setting_is_saved(changes, admin_user):
    row = automation_settings_update(actor=admin_user, **changes)
    row.refresh_from_db()
    assert {name: getattr(row, name) for name in changes} == changes
    assert ActivityLog.objects.count() == 1


# --- saving and the log ----------------------------------------------------------------------------------------


def test_a_change_is_saved_and_logged_once_with_its_actor(admin_user):
    AutomationSettings.load()
    row = automation_settings_update(
        actor=admin_user,
        invoice_lead_days=10,
        combined_invoicing=False,
        time_of_day=datetime.time(4, 30),
        late_fee_amount=Decimal("5"),
        late_fee_type="percent",
        suspend_email=True,  # as it was: not a change
    )
    row.refresh_from_db()
    assert (row.invoice_lead_days, row.combined_invoicing, row.time_of_day, row.late_fee_amount) == (
        10,
        False,
        datetime.time(4, 30),
        Decimal("5.00"),
    )
    entry = ActivityLog.objects.get()
    assert (entry.actor, entry.actor_label, entry.action) == (admin_user, "admin", "automation_settings_changed")
    assert (entry.subject_type, entry.subject_id) == ("automation.automationsettings", 1)
    assert entry.message == (
        "Automation settings changed: Time of day: 03:00 → 04:30; Invoice lead days: 14 → 10; "
        "Combined invoicing: on → off; Late fee type: Fixed amount → Percent of the invoice total; "
        "Late fee amount: 0.00 → 5.00"
    )


def test_the_lists_are_stored_in_order_and_logged_as_typed(admin_user):
    automation_settings_update(
        actor=admin_user,
        reminder_levels=[{"days": 3, "template": "late"}, {"days": -3, "template": "early"}],
        domain_renewal_notice_days=[7, 60, 30],
        lead_days_by_cycle={"annually": 30, "monthly": 5},
    )
    row = AutomationSettings.load()
    assert row.reminder_levels == [{"days": -3, "template": "early"}, {"days": 3, "template": "late"}]
    assert row.domain_renewal_notice_days == [60, 30, 7]
    assert row.lead_days_by_cycle == {"monthly": 5, "annually": 30}
    message = ActivityLog.objects.get().message
    assert (
        "Reminder levels: -7 invoice_reminder_upcoming, 0 invoice_reminder_due, 1 invoice_overdue_first, "
        "7 invoice_overdue_second, 14 invoice_overdue_third → -3 early, 3 late" in message
    )
    assert "Lead days by billing cycle: none → monthly 5, annually 30" in message
    assert "Domain renewal notice days: 30, 7 → 60, 30, 7" in message


def test_a_change_by_the_system_is_logged_as_system(db):
    automation_settings_update(actor=None, suspend_enabled=False)
    entry = ActivityLog.objects.get()
    assert (entry.actor, entry.actor_label, entry.message) == (
        None,
        "system",
        "Automation settings changed: Suspend overdue services: on → off",
    )


def test_an_update_that_changes_nothing_logs_nothing(admin_user):
    AutomationSettings.load()
    before = _row()
    row = automation_settings_update(
        actor=admin_user,
        invoice_lead_days=14,
        late_fee_amount=Decimal("0.00"),
        domain_renewal_notice_days=[7, 30],  # stored latest first: the same notices
        reminder_levels=list(reversed(DEFAULT_LEVELS)),
    )
    assert row.pk == 1 and _row() == before
    assert not ActivityLog.objects.exists()
    automation_settings_update(actor=admin_user)
    assert not ActivityLog.objects.exists()


def test_the_first_update_creates_the_row(admin_user):
    assert not AutomationSettings.objects.exists()
    automation_settings_update(actor=admin_user, invoice_lead_days=21)
    assert AutomationSettings.objects.get().invoice_lead_days == 21
    assert "Invoice lead days: 14 → 21" in ActivityLog.objects.get().message


# --- the admin -------------------------------------------------------------------------------------------------


def _change_url() -> str:
    return reverse("admin:automation_automationsettings_change", args=[AutomationSettings.load().pk])


def _post(**overrides) -> dict:
    """The page as it comes with the defaults, as the browser posts it (a switch that is off is left out)."""
    form = {
        "time_of_day": "03:00",
        "invoice_lead_days": "14",
        "lead_days_by_cycle": "",
        "combined_invoicing": "on",
        "reminder_levels": DEFAULT_LEVELS_TEXT,
        "late_fee_type": "fixed",
        "late_fee_amount": "0.00",
        "late_fee_minimum": "0.00",
        "late_fee_after_days": "7",
        "late_fee_repeat_days": "0",
        "late_fee_max_count": "1",
        "suspend_enabled": "on",
        "suspend_after_days": "7",
        "suspend_email": "on",
        "unsuspend_on_payment": "on",
        "terminate_after_days": "30",
        "cancel_unpaid_orders_after_days": "14",
        "domain_renewal_notice_days": "30, 7",
    }
    form.update(overrides)
    return {name: value for name, value in form.items() if value is not None}


def _form_errors(response) -> dict:
    assert response.status_code == 200, response.status_code
    return response.context["adminform"].form.errors


def test_the_settings_list_opens_the_one_row(admin_client, db):
    response = admin_client.get(reverse("admin:automation_automationsettings_changelist"))
    assert response.status_code == 302 and response.url == _change_url()
    assert admin_client.get(reverse("admin:automation_automationsettings_add")).status_code == 403
    response = admin_client.post(reverse("admin:automation_automationsettings_delete", args=[1]), {"post": "yes"})
    assert response.status_code == 403 and AutomationSettings.objects.filter(pk=1).exists()


def test_the_page_shows_the_settings_in_groups_and_the_lists_as_text(admin_client, admin_user):
    automation_settings_update(actor=admin_user, lead_days_by_cycle={"annually": 30, "monthly": 3})
    response = admin_client.get(_change_url())
    assert response.status_code == 200
    page = response.content.decode()
    for group in ("Run", "Invoicing", "Reminders", "Late fees", "Suspension and termination", "Orders and domains"):
        assert f'class="fieldset-heading">{group}</h2>' in page, group
    form = response.context["adminform"].form
    assert form["reminder_levels"].value() == DEFAULT_LEVELS_TEXT
    assert form["lead_days_by_cycle"].value() == "monthly 3\nannually 30"
    assert form["domain_renewal_notice_days"].value() == "30, 7"
    assert "-7 invoice_reminder_upcoming\n0 invoice_reminder_due" in page


def test_the_email_on_suspension_setting_says_that_no_email_is_queued_yet(admin_client, db):
    page = admin_client.get(_change_url()).content.decode()
    assert "Email the client when the run suspends an overdue service" in page
    assert "Tell the client when a service is suspended." not in page


def test_posting_the_page_back_unchanged_changes_nothing(admin_client, admin_user):
    automation_settings_update(actor=admin_user, lead_days_by_cycle={"annually": 30})
    before, logged = _row(), ActivityLog.objects.count()
    response = admin_client.get(_change_url())
    form = response.context["adminform"].form
    shown = {
        name: form[name].value() for name in ("reminder_levels", "lead_days_by_cycle", "domain_renewal_notice_days")
    }
    response = admin_client.post(_change_url(), _post(**shown))
    assert response.status_code == 302
    assert _row() == before and ActivityLog.objects.count() == logged


def test_a_reminder_list_with_a_day_twice_is_refused_on_the_page(admin_client, db):
    AutomationSettings.load()
    before = _row()
    response = admin_client.post(
        _change_url(), _post(reminder_levels="-7 invoice_reminder_upcoming\n7 first\n7 second", invoice_lead_days="5")
    )
    errors = _form_errors(response)
    assert list(errors) == ["reminder_levels"]
    assert errors["reminder_levels"] == ["Two reminder levels are set for day 7: each day can have only one level."]
    assert "Two reminder levels are set for day 7" in response.content.decode()
    assert _row() == before and not ActivityLog.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field", "errors"),
    [
        (
            {"reminder_levels": "-7 invoice_reminder_upcoming\n\n7invoice_overdue\n14 a b"},
            "reminder_levels",
            [
                "Line 3: write the days, a space and the template, e.g. -7 invoice_reminder_upcoming.",
                "Line 4: write the days, a space and the template, e.g. -7 invoice_reminder_upcoming.",
            ],
        ),
        (
            {"reminder_levels": "seven invoice_overdue"},
            "reminder_levels",
            ["Line 1: write the days, a space and the template, e.g. -7 invoice_reminder_upcoming."],
        ),
        (
            {"lead_days_by_cycle": "annually 30\nmonthly\nannually 20"},
            "lead_days_by_cycle",
            [
                "Line 2: write the billing cycle, a space and the days, e.g. annually 30.",
                "Line 3: annually is given twice; give each billing cycle once.",
            ],
        ),
        (
            {"lead_days_by_cycle": "weekly 3"},
            "lead_days_by_cycle",
            [
                "'weekly' is not a billing cycle that renews: use monthly, quarterly, semiannually, annually, "
                "biennially, triennially."
            ],
        ),
        (
            {"domain_renewal_notice_days": "30, seven"},
            "domain_renewal_notice_days",
            ["'seven' is not a number of days: write whole numbers separated by commas, e.g. 30, 7."],
        ),
        (
            {"domain_renewal_notice_days": "30, 7, 30"},
            "domain_renewal_notice_days",
            ["Each renewal notice needs its own day: 30 is given twice."],
        ),
        # The service's words, not the form's generic "Ensure this value is greater than or equal to 0".
        ({"suspend_after_days": "-1"}, "suspend_after_days", ["Suspend after days cannot be negative: -1."]),
        ({"late_fee_amount": "1.999"}, "late_fee_amount", ["Use at most 2 decimal places: 1.999."]),
        (
            {"terminate_enabled": "on", "terminate_after_days": "3"},
            "terminate_after_days",
            [
                "Termination must come after suspension: terminating after 3 days overdue does not come after "
                "suspending after 7 days. Set more days, or turn suspension off."
            ],
        ),
    ],
)
def test_what_cannot_be_read_or_is_refused_shows_on_its_field(overrides, field, errors, admin_client, db):
    AutomationSettings.load()
    before = _row()
    response = admin_client.post(_change_url(), _post(**overrides))
    assert _form_errors(response) == {field: errors}
    assert _row() == before and not ActivityLog.objects.exists()


def test_a_good_post_saves_and_logs_the_admin(admin_client, admin_user):
    AutomationSettings.load()
    response = admin_client.post(
        _change_url(),
        _post(
            time_of_day="02:15",
            reminder_levels="  14 invoice_overdue_third\n-3 invoice_reminder_upcoming\n\n0 invoice_reminder_due  ",
            lead_days_by_cycle="Annually 30\nmonthly 5",
            late_fee_enabled="on",
            late_fee_type="percent",
            late_fee_amount="10",
            late_fee_minimum="2.50",
            terminate_enabled="on",
            domain_renewal_notice_days="7,30,",
            suspend_email=None,
        ),
    )
    assert response.status_code == 302, _form_errors(response)
    row = AutomationSettings.load()
    assert row.time_of_day == datetime.time(2, 15)
    assert row.reminder_levels == [
        {"days": -3, "template": "invoice_reminder_upcoming"},
        {"days": 0, "template": "invoice_reminder_due"},
        {"days": 14, "template": "invoice_overdue_third"},
    ]
    assert row.lead_days_by_cycle == {"monthly": 5, "annually": 30}
    assert (row.late_fee_enabled, row.late_fee_type, row.late_fee_amount, row.late_fee_minimum) == (
        True,
        "percent",
        Decimal("10.00"),
        Decimal("2.50"),
    )
    assert (row.terminate_enabled, row.suspend_email, row.domain_renewal_notice_days) == (True, False, [30, 7])
    entry = ActivityLog.objects.get(action="automation_settings_changed")
    assert (entry.actor, entry.actor_label) == (admin_user, "admin")
    assert "Time of day: 03:00 → 02:15" in entry.message
    assert "Charge late fees: off → on" in entry.message
    assert "Email on suspension: on → off" in entry.message
    assert "Reminder levels: -7 invoice_reminder_upcoming, 0 invoice_reminder_due" in entry.message
    assert "→ -3 invoice_reminder_upcoming, 0 invoice_reminder_due, 14 invoice_overdue_third" in entry.message
    assert "Domain renewal notice days" not in entry.message  # 7, 30 is stored as 30, 7: as it was


# --- the text notation ---------------------------------------------------------------------------------------


def test_the_levels_round_trip_through_their_text(db):
    field = ReminderLevelsField()
    assert field.prepare_value(DEFAULT_LEVELS) == DEFAULT_LEVELS_TEXT
    assert field.clean(DEFAULT_LEVELS_TEXT) == DEFAULT_LEVELS
    assert field.clean("") == []
    overrides = {"monthly": 3, "annually": 30}
    assert LeadDaysByCycleField().clean(LeadDaysByCycleField().prepare_value(overrides)) == overrides


def test_the_form_shows_the_current_levels_as_text(admin_user):
    automation_settings_update(actor=admin_user, reminder_levels=_levels(5, -2))
    form = AutomationSettingsForm(instance=AutomationSettings.load())
    assert form["reminder_levels"].value() == "-2 reminder_2\n5 reminder_5"
    assert form["domain_renewal_notice_days"].value() == "30, 7"
    assert form["lead_days_by_cycle"].value() == ""


@pytest.mark.django_db
def test_changing_the_time_of_day_moves_celery_beats_daily_run():
    import datetime

    from django_celery_beat.models import PeriodicTask

    from automation.beat import DAILY_TASK_NAME
    from automation.services import automation_settings_update

    automation_settings_update(actor=None, time_of_day=datetime.time(5, 15))
    crontab = PeriodicTask.objects.get(name=DAILY_TASK_NAME).crontab
    assert (crontab.hour, crontab.minute) == ("5", "15")
