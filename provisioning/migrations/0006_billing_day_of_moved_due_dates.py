"""Fill billing_day for the services and domains whose due date was moved off their registration day before
the field existed, so they keep the day they are billed on through short months from now on."""

import calendar

from django.db import migrations

CHUNK = 10_000


def _off_day(registered, due) -> int | None:
    """The due date's day when it is not the registration day (or that day clamped to the due date's month)."""
    clamped = min(registered.day, calendar.monthrange(due.year, due.month)[1])
    return None if due.day == clamped else due.day


def fill(apps, schema_editor):
    for name in ("Service", "Domain"):
        model = apps.get_model("provisioning", name)
        rows = model.objects.filter(next_due_date__isnull=False, billing_day__isnull=True)
        by_day: dict[int, list[int]] = {}
        for pk, registered, due in rows.values_list("pk", "registration_date", "next_due_date").iterator(CHUNK):
            day = _off_day(registered, due)
            if day is not None:
                by_day.setdefault(day, []).append(pk)
        for day, ids in by_day.items():
            for start in range(0, len(ids), CHUNK):
                model.objects.filter(pk__in=ids[start : start + CHUNK]).update(billing_day=day)


class Migration(migrations.Migration):
    dependencies = [("provisioning", "0005_billing_day")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
