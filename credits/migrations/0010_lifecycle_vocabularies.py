"""A lifecycle run's trigger is one of `LifecycleTrigger` (choices only: the column and its
values are unchanged)."""
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("credits", "0009_lifecycle_run_liveness"),
    ]

    operations = [
        migrations.AlterField(
            model_name="lifecyclerun",
            name="trigger",
            field=models.CharField(
                choices=[("beat", "beat"), ("run_now", "run_now"), ("command", "command"),
                         ("shard", "shard"), ("forecast", "forecast"), ("manual", "manual"),
                         ("demo", "demo")],
                default="manual", max_length=32),
        ),
    ]
