"""The ledger check's checkpoints and totals, a block-range index of the charges' entries, and
the periodic tasks "ledger check" (incremental, every hour at minute 30, UTC) and "ledger audit"
(the full audit, Sundays at 03:45 UTC), enabled.

Operators retime or disable them in the django-celery-beat admin; migrating again never undoes
their change (an existing task of that name is left as it is).
"""
import json

import django.contrib.postgres.indexes
import django.db.models.deletion
from django.db import migrations, models
from django.utils import timezone

TASK = "credits.tasks.ledger_check_task"
SCHEDULES = {
    "ledger check": ({"minute": "30", "hour": "*", "day_of_week": "*"}, "incremental",
                     "The incremental ledger check: what was appended since the last check "
                     "(credits.services.ledger_check). Drifts are logged and kept in the "
                     "ledger checks' admin."),
    "ledger audit": ({"minute": "45", "hour": "3", "day_of_week": "0"}, "full",
                     "The full ledger audit: every entry, lot, drain and charge; it also makes "
                     "the totals of the incremental check again."),
}


def _tasks_changed(apps):
    # What PeriodicTask.save() signals outside migrations: a running beat reloads its schedule.
    apps.get_model("django_celery_beat", "PeriodicTasks").objects.update_or_create(
        ident=1, defaults={"last_update": timezone.now()})


def create_periodic_tasks(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, (when, mode, description) in SCHEDULES.items():
        if PeriodicTask.objects.filter(name=name).exists():
            continue
        fields = {**when, "day_of_month": "*", "month_of_year": "*", "timezone": "UTC"}
        schedule = CrontabSchedule.objects.filter(**fields).order_by("pk").first() \
            or CrontabSchedule.objects.create(**fields)
        PeriodicTask.objects.create(name=name, task=TASK, crontab=schedule, enabled=True,
                                    kwargs=json.dumps({"mode": mode}), description=description)
    _tasks_changed(apps)


def delete_periodic_tasks(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    for name, (when, _mode, _description) in SCHEDULES.items():
        deleted, _ = PeriodicTask.objects.filter(name=name).delete()
        CrontabSchedule.objects.filter(**when, day_of_month="*", month_of_year="*",
                                       timezone="UTC", periodictask__isnull=True).delete()
    _tasks_changed(apps)


class Migration(migrations.Migration):

    dependencies = [
        ('credits', '0013_charge_rollup'),
        ('pricing', '0007_default_payment_rules'),
        ('django_celery_beat', '0019_alter_periodictasks_options'),
    ]

    operations = [
        migrations.CreateModel(
            name='LedgerCheckAccount',
            fields=[
                ('account', models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='+', serialize=False, to='credits.account')),
                ('total', models.BigIntegerField()),
            ],
        ),
        migrations.CreateModel(
            name='LedgerCheckLot',
            fields=[
                ('lot', models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='+', serialize=False, to='credits.lot')),
                ('drained', models.BigIntegerField()),
            ],
        ),
        migrations.CreateModel(
            name='LedgerCheckpoint',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('mode', models.CharField(choices=[('full', 'Full audit'), ('incremental', 'Incremental')], max_length=16)),
                ('at', models.DateTimeField(help_text='The instant the balances were checked at.')),
                ('started_at', models.DateTimeField()),
                ('finished_at', models.DateTimeField()),
                ('entry_id', models.BigIntegerField(default=0)),
                ('drain_id', models.BigIntegerField(default=0)),
                ('lot_id', models.BigIntegerField(default=0)),
                ('seen_entry_id', models.BigIntegerField(default=0)),
                ('seen_drain_id', models.BigIntegerField(default=0)),
                ('seen_lot_id', models.BigIntegerField(default=0)),
                ('transfers_sent', models.BigIntegerField(default=0, help_text='Up to entry_id (negative).')),
                ('transfers_received', models.BigIntegerField(default=0, help_text='Up to entry_id.')),
                ('transfers_out', models.BigIntegerField(default=0, help_text='Entries, up to entry_id.')),
                ('transfers_in', models.BigIntegerField(default=0, help_text='Entries, up to entry_id.')),
                ('snapshot_at', models.DateTimeField(help_text="When the check's snapshot was taken: once no transaction that began before it runs, the rows up to the seen ids can no longer appear.")),
                ('entries_read', models.BigIntegerField(default=0, help_text='Entries appended since the base checkpoint, read.')),
                ('drift_count', models.PositiveIntegerField(default=0)),
                ('drifts', models.TextField(blank=True, help_text='One drift per line.')),
            ],
            options={
                'ordering': ['-id'],
                'get_latest_by': 'id',
            },
        ),
        migrations.AddIndex(
            model_name='charge',
            index=django.contrib.postgres.indexes.BrinIndex(fields=['entry'], name='charge_entry_brin'),
        ),
        migrations.RunPython(create_periodic_tasks, delete_periodic_tasks),
    ]
