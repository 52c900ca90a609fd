"""The pending-deletions admin page: a proxy of Resource (no table, only its admin and
permissions)."""
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("credits", "0004_lifecycle_periodic_task"),
    ]

    operations = [
        migrations.CreateModel(
            name="PendingDeletion",
            fields=[],
            options={
                "verbose_name": "pending deletion",
                "verbose_name_plural": "pending deletions",
                "ordering": ["delete_after", "id"],
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("credits.resource",),
        ),
    ]
