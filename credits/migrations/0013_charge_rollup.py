"""Issue 14, retention: `ChargeRollup`, one row per month of charges rolled up into
`ResourceUsage` and taken out of the partitioned `credits_charge` (`charges_retire`)."""
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('credits', '0012_metering_watermark_charge_partitions'),
    ]

    operations = [
        migrations.CreateModel(
            name='ChargeRollup',
            fields=[
                ('month', models.DateField(help_text="The first day of the month (UTC) of the charges' hours.", primary_key=True, serialize=False)),
                ('retired_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('charges', models.BigIntegerField(help_text='Hourly charges the month held.')),
                ('resources', models.PositiveIntegerField(help_text='Resources charged in the month (one `ResourceUsage` row each).')),
                ('amount_requested', models.BigIntegerField()),
                ('amount_drained', models.BigIntegerField()),
                ('entries_until', models.DateTimeField(blank=True, help_text="When the latest ledger entry of the month's charges took effect: metering lags the hours, so a month's last hours are charged by entries of the next (`charges_retired_until`). Empty: the month held no charge.", null=True)),
                ('kept_table', models.CharField(blank=True, help_text='The detached partition kept for archive (`--keep-table`); empty: dropped.', max_length=63)),
            ],
            options={
                'ordering': ['month'],
            },
        ),
    ]
