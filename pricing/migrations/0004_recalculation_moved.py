"""The recalculation jobs and their audit lines belong to the credits app now
(credits/migrations/0011_recalculation_moved): removed from pricing's state only; the tables
`pricing_recalculation` and `pricing_recalculationline` stay, with their rows, for credits."""
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("pricing", "0003_recalculation"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="RecalculationLine"),
                migrations.DeleteModel(name="Recalculation"),
            ],
            database_operations=[],
        ),
    ]
