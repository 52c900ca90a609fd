"""The recalculation jobs and their audit lines move here from the pricing app (repricing needs
resources, which pricing does not know). State only: the tables keep their names
(`pricing_recalculation`, `pricing_recalculationline`) and their rows. The content types move
with them, so the permissions given on them (`add_recalculation`, …) and the admin's log stay.
"""
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import pricing.fields

MOVED = ("recalculation", "recalculationline")


def _move_content_types(apps, schema_editor, *, source: str, target: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    content_types = ContentType.objects.using(schema_editor.connection.alias)
    for model in MOVED:
        # A fresh database has none yet (they are made after migrating); one that somehow has
        # both keeps them as they are.
        if not content_types.filter(app_label=target, model=model).exists():
            content_types.filter(app_label=source, model=model).update(app_label=target)


def content_types_to_credits(apps, schema_editor):
    _move_content_types(apps, schema_editor, source="pricing", target="credits")


def content_types_to_pricing(apps, schema_editor):
    _move_content_types(apps, schema_editor, source="credits", target="pricing")


class Migration(migrations.Migration):

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("credits", "0010_lifecycle_vocabularies"),
        ("pricing", "0004_recalculation_moved"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Recalculation',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('dry_run', models.BooleanField(default=False, help_text='Only computes the impact; changes no resource.')),
                        ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Finished with failures')], db_index=True, default='queued', max_length=16)),
                        ('fingerprint', models.CharField(blank=True, help_text="Digest of the version's prices when the job started (a draft may change).", max_length=64)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('started_at', models.DateTimeField(blank=True, null=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('heartbeat_at', models.DateTimeField(blank=True, help_text='Last progress written by the worker.', null=True)),
                        ('total', models.PositiveIntegerField(default=0, help_text='Live resources when it started.')),
                        ('done', models.PositiveIntegerField(default=0)),
                        ('recalculated', models.PositiveIntegerField(default=0, help_text='Resources whose rows, totals or version were replaced.')),
                        ('cost_changed', models.PositiveIntegerField(default=0, help_text="… of which the cost in their payment type's unit changed.")),
                        ('unchanged', models.PositiveIntegerField(default=0)),
                        ('failed', models.PositiveIntegerField(default=0)),
                        ('burn_before_per_hour', pricing.fields.ExactDecimalField(decimal_places=18, default=0, help_text='Credits per hour of the live credit-paid resources, before.', max_digits=38)),
                        ('burn_after_per_hour', pricing.fields.ExactDecimalField(decimal_places=18, default=0, max_digits=38)),
                        ('summary', models.JSONField(blank=True, default=dict)),
                        ('error_messages', models.TextField(blank=True)),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('version', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='recalculations', to='pricing.pricingversion')),
                    ],
                    options={
                        'db_table': 'pricing_recalculation',
                        'ordering': ['-created_at', '-id'],
                    },
                ),
                migrations.CreateModel(
                    name='RecalculationLine',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('resource_id', models.BigIntegerField(db_index=True)),
                        ('item_hash', models.CharField(max_length=128)),
                        ('outcome', models.CharField(choices=[('recalculated', 'Recalculated'), ('failed', 'Failed')], max_length=16)),
                        ('previous_version_id', models.BigIntegerField(blank=True, null=True)),
                        ('previous_cost_hold', pricing.fields.ExactDecimalField(blank=True, decimal_places=18, max_digits=38, null=True)),
                        ('previous_cost_stream_per_second', pricing.fields.ExactDecimalField(blank=True, decimal_places=18, max_digits=38, null=True)),
                        ('previous_cost_credit_per_second', pricing.fields.ExactDecimalField(blank=True, decimal_places=18, max_digits=38, null=True)),
                        ('cost_hold', pricing.fields.ExactDecimalField(blank=True, decimal_places=18, max_digits=38, null=True)),
                        ('cost_stream_per_second', pricing.fields.ExactDecimalField(blank=True, decimal_places=18, max_digits=38, null=True)),
                        ('cost_credit_per_second', pricing.fields.ExactDecimalField(blank=True, decimal_places=18, max_digits=38, null=True)),
                        ('reason', models.TextField(blank=True)),
                        ('recalculation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='lines', to='credits.recalculation')),
                    ],
                    options={
                        'db_table': 'pricing_recalculationline',
                        'ordering': ['recalculation', 'id'],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_to_credits, content_types_to_pricing),
    ]
