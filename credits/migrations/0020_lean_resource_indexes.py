"""Fewer index entries per status change of a resource (the lifecycle flags, restores and
removes tens of thousands an hour, each a new row version with an entry in every index of the
table): the version's foreign key loses its index (only a version's delete looks resources up by
it, and only drafts are deleted), and the payment-type index leaves out credit-paid resources.
"""
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('credits', '0019_links_checked_per_statement'),
        ('pricing', '0007_default_payment_rules'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='resource',
            name='resource_payment_status',
        ),
        migrations.AlterField(
            model_name='resource',
            name='pricing_version',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='resources', to='pricing.pricingversion'),
        ),
        migrations.AddIndex(
            model_name='resource',
            index=models.Index(condition=models.Q(('payment_type', 'credit'), _negated=True), fields=['payment_type', 'status'], name='resource_payment_status'),
        ),
    ]
