"""The outbox (Event), webhook endpoints, deliveries and their attempts; the outbox's state row;
and two periodic tasks: "webhook dispatch" (every 10 seconds: fan new events out to endpoints and
send what is due) and "event pruning" (daily). Operators retime or disable them in the
django-celery-beat admin; migrating again never undoes their change.
"""
import django.contrib.postgres.fields
import django.db.models.deletion
import django.utils.timezone
import uuid
from django.db import migrations, models
from django.utils import timezone

DISPATCH_TASK_NAME = "webhook dispatch"
DISPATCH_TASK = "credits.tasks.webhooks_pump_task"
PRUNE_TASK_NAME = "event pruning"
PRUNE_TASK = "credits.tasks.events_prune_task"
EVERY_10_SECONDS = {"every": 10, "period": "seconds"}
DAILY = {"minute": "30", "hour": "3", "day_of_week": "*", "day_of_month": "*",
         "month_of_year": "*", "timezone": "UTC"}


def _tasks_changed(apps):
    # What PeriodicTask.save() signals outside migrations: a running beat reloads its schedule.
    apps.get_model("django_celery_beat", "PeriodicTasks").objects.update_or_create(
        ident=1, defaults={"last_update": timezone.now()})


def create_rows(apps, schema_editor):
    apps.get_model("credits", "OutboxState").objects.get_or_create(id=1)
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    changed = False
    if not PeriodicTask.objects.filter(name=DISPATCH_TASK_NAME).exists():
        interval = IntervalSchedule.objects.filter(**EVERY_10_SECONDS).order_by("pk").first() \
            or IntervalSchedule.objects.create(**EVERY_10_SECONDS)
        PeriodicTask.objects.create(
            name=DISPATCH_TASK_NAME, task=DISPATCH_TASK, interval=interval, enabled=True,
            description="Fans new events out to the webhook endpoints and sends the deliveries "
                        "that are due, retries included (credits.services.webhooks). Commits "
                        "that write events also queue it at once.")
        changed = True
    if not PeriodicTask.objects.filter(name=PRUNE_TASK_NAME).exists():
        daily = CrontabSchedule.objects.filter(**DAILY).order_by("pk").first() \
            or CrontabSchedule.objects.create(**DAILY)
        PeriodicTask.objects.create(
            name=PRUNE_TASK_NAME, task=PRUNE_TASK, crontab=daily, enabled=True,
            description="Deletes events older than EVENTS_RETENTION_DAYS whose deliveries are "
                        "over; a feed cursor before them then answers 410.")
        changed = True
    if changed:
        _tasks_changed(apps)


def delete_rows(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    deleted, _ = PeriodicTask.objects.filter(name__in=[DISPATCH_TASK_NAME,
                                                       PRUNE_TASK_NAME]).delete()
    apps.get_model("django_celery_beat", "IntervalSchedule").objects.filter(
        **EVERY_10_SECONDS, periodictask__isnull=True).delete()
    apps.get_model("django_celery_beat", "CrontabSchedule").objects.filter(
        **DAILY, periodictask__isnull=True).delete()
    if deleted:
        _tasks_changed(apps)


class Migration(migrations.Migration):

    dependencies = [
        ('credits', '0016_sign_in_with_ethereum'),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.CreateModel(
            name='Delivery',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('resource_id', models.BigIntegerField(blank=True, editable=False, null=True)),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('succeeded', 'Succeeded'), ('failed', 'Failed (gave up)')], default='pending', max_length=16)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('next_attempt_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('retry_until', models.DateTimeField(help_text='No attempt after this instant: a failure then gives up (WEBHOOK_RETRY_SECONDS after it was created or resent).')),
                ('attempts', models.PositiveIntegerField(default=0)),
                ('leased_until', models.DateTimeField(blank=True, help_text='Claimed by a sender until then; a sender that died lets it go at that time.', null=True)),
                ('lease_token', models.UUIDField(blank=True, editable=False, null=True)),
                ('last_attempt_at', models.DateTimeField(blank=True, null=True)),
                ('last_status_code', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('last_error', models.CharField(blank=True, max_length=500)),
                ('delivered_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'verbose_name_plural': 'deliveries',
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.CreateModel(
            name='DeliveryAttempt',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('attempted_at', models.DateTimeField()),
                ('status_code', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('latency_ms', models.PositiveIntegerField(blank=True, null=True)),
                ('response_excerpt', models.TextField(blank=True)),
                ('error', models.CharField(blank=True, max_length=500)),
                ('succeeded', models.BooleanField(default=False)),
                ('delivery', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='log', to='credits.delivery')),
            ],
            options={
                'ordering': ['attempted_at', 'id'],
            },
        ),
        migrations.CreateModel(
            name='Event',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('xid', models.BigIntegerField(db_default=models.Func(output_field=models.BigIntegerField(), template='(pg_current_xact_id()::text::bigint)'), editable=False, help_text="The transaction that wrote it (the feed's order).")),
                ('type', models.CharField(choices=[('resource.registered', 'resource.registered'), ('resource.flagged', 'resource.flagged'), ('resource.restored', 'resource.restored'), ('resource.removed', 'resource.removed'), ('resource.forgotten', 'resource.forgotten'), ('lifecycle.run_finished', 'lifecycle.run_finished')], max_length=32)),
                ('schema_version', models.PositiveSmallIntegerField(default=1)),
                ('occurred_at', models.DateTimeField()),
                ('payload', models.JSONField()),
                ('account', models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='credits.account')),
                ('resource', models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='credits.resource')),
            ],
            options={
                'ordering': ['xid', 'id'],
            },
        ),
        migrations.AddField(
            model_name='delivery',
            name='event',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='credits.event'),
        ),
        migrations.CreateModel(
            name='OutboxState',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('dispatched_xid', models.BigIntegerField(default=0)),
                ('dispatched_event_id', models.BigIntegerField(default=0)),
                ('pruned_xid', models.BigIntegerField(default=0)),
                ('pruned_event_id', models.BigIntegerField(default=0)),
                ('pruned_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'verbose_name': 'outbox state',
                'verbose_name_plural': 'outbox state',
                'constraints': [models.CheckConstraint(condition=models.Q(('id', 1)), name='outbox_state_single_row')],
            },
        ),
        migrations.CreateModel(
            name='WebhookEndpoint',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('url', models.URLField(help_text='http(s) only; private, loopback and link-local targets are refused.', max_length=2000)),
                ('description', models.CharField(blank=True, max_length=200)),
                ('event_types', django.contrib.postgres.fields.ArrayField(base_field=models.CharField(choices=[('resource.registered', 'resource.registered'), ('resource.flagged', 'resource.flagged'), ('resource.restored', 'resource.restored'), ('resource.removed', 'resource.removed'), ('resource.forgotten', 'resource.forgotten'), ('lifecycle.run_finished', 'lifecycle.run_finished')], max_length=32), blank=True, default=list, help_text='Empty: every event type.', size=None)),
                ('enabled', models.BooleanField(default=True)),
                ('secret', models.CharField(editable=False, help_text='whsec_…: signs the deliveries; shown once.', max_length=100)),
                ('created_by', models.CharField(editable=False, max_length=200)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('failing_since', models.DateTimeField(blank=True, editable=False, help_text='The first failed attempt since its last success; empty: not failing.', null=True)),
                ('disabled_at', models.DateTimeField(blank=True, editable=False, null=True)),
                ('disabled_reason', models.CharField(blank=True, editable=False, max_length=300)),
                ('account', models.ForeignKey(blank=True, help_text="Only this account's events; empty: every account's (operators).", null=True, on_delete=django.db.models.deletion.PROTECT, related_name='webhook_endpoints', to='credits.account')),
            ],
            options={
                'verbose_name': 'webhook endpoint',
                'ordering': ['created_at', 'id'],
            },
        ),
        migrations.AddField(
            model_name='delivery',
            name='endpoint',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='credits.webhookendpoint'),
        ),
        migrations.AddIndex(
            model_name='event',
            index=models.Index(fields=['xid', 'id'], name='event_feed'),
        ),
        migrations.AddIndex(
            model_name='event',
            index=models.Index(fields=['account', 'xid', 'id'], name='event_account_feed'),
        ),
        migrations.AddIndex(
            model_name='delivery',
            index=models.Index(condition=models.Q(('status', 'pending')), fields=['next_attempt_at'], name='delivery_due'),
        ),
        migrations.AddIndex(
            model_name='delivery',
            index=models.Index(condition=models.Q(('status', 'pending')), fields=['endpoint', 'resource_id', 'event'], name='delivery_order'),
        ),
        migrations.AddConstraint(
            model_name='delivery',
            constraint=models.UniqueConstraint(fields=('event', 'endpoint'), name='delivery_once_per_endpoint'),
        ),
        migrations.RunPython(create_rows, delete_rows),
    ]
