"""The periodic task "credit lifecycle": every hour at minute 0 (UTC), enabled.

Operators retime or disable it in the django-celery-beat admin; migrating again never undoes
their change (an existing task of that name is left as it is).
"""
from django.db import migrations
from django.utils import timezone

TASK_NAME = "credit lifecycle"
TASK = "credits.tasks.lifecycle_run_task"
HOURLY = {"minute": "0", "hour": "*", "day_of_week": "*", "day_of_month": "*",
          "month_of_year": "*", "timezone": "UTC"}


def _tasks_changed(apps):
    # What PeriodicTask.save() signals outside migrations: a running beat reloads its schedule.
    apps.get_model("django_celery_beat", "PeriodicTasks").objects.update_or_create(
        ident=1, defaults={"last_update": timezone.now()})


def create_periodic_task(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    if PeriodicTask.objects.filter(name=TASK_NAME).exists():
        return
    hourly = CrontabSchedule.objects.filter(**HOURLY).order_by("pk").first() \
        or CrontabSchedule.objects.create(**HOURLY)
    PeriodicTask.objects.create(
        name=TASK_NAME, task=TASK, crontab=hourly, enabled=True,
        description="The lifecycle run: meter, fund or flag, finalise (credits.services."
                    "lifecycle). Retime or disable it here; LIFECYCLE_SHARDS splits it into "
                    "shard tasks.")
    _tasks_changed(apps)


def delete_periodic_task(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    deleted, _ = PeriodicTask.objects.filter(name=TASK_NAME).delete()
    CrontabSchedule.objects.filter(**HOURLY, periodictask__isnull=True).delete()
    if deleted:
        _tasks_changed(apps)


class Migration(migrations.Migration):

    dependencies = [
        ("credits", "0003_lifecycle"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(create_periodic_task, delete_periodic_task),
    ]
