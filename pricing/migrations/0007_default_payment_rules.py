"""Give every existing pricing version the network's two payment rules (aleph-im/pyaleph
src/aleph/toolkit/constants.py): hold and stream refused for instances and persistent programs
from 2026-03-11 (HOLD_AND_STREAM_CUTOFF_TIMESTAMP), credit only for every product from
2027-01-01 (CREDIT_ONLY_CUTOFF_TIMESTAMP). A version that has rules already is left alone.
History rows are written too, so the admin shows where the rules came from.

The rules are written out here, not imported, so this migration stays what it was.
"""
from datetime import datetime, timezone

from django.db import migrations
from django.utils import timezone as django_timezone

_REASON = "network payment rules (migration 0007)"
_ALL_PRODUCTS = ["storage", "web3_hosting", "program", "program_persistent", "instance",
                 "instance_confidential", "instance_gpu_standard", "instance_gpu_premium"]
RULES = [
    {"name": "hold_and_stream_deprecated",
     "product_types": ["program_persistent", "instance", "instance_confidential",
                       "instance_gpu_standard", "instance_gpu_premium"],
     "payment_types": ["hold", "superfluid"],
     "not_accepted_from": datetime(2026, 3, 11, tzinfo=timezone.utc),
     "description": "Instances and persistent programs pay by credit (the network's "
                    "HOLD_AND_STREAM_CUTOFF_TIMESTAMP)."},
    {"name": "credit_only",
     "product_types": _ALL_PRODUCTS,
     "payment_types": ["hold", "superfluid"],
     "not_accepted_from": datetime(2027, 1, 1, tzinfo=timezone.utc),
     "description": "Every paid resource pays by credit (the network's "
                    "CREDIT_ONLY_CUTOFF_TIMESTAMP)."},
]


def add_payment_rules(apps, schema_editor):
    using = schema_editor.connection.alias
    PricingVersion = apps.get_model("pricing", "PricingVersion")
    PaymentRule = apps.get_model("pricing", "PaymentRule")
    HistoricalPaymentRule = apps.get_model("pricing", "HistoricalPaymentRule")
    now = django_timezone.now()
    versions = PricingVersion.objects.using(using).exclude(payment_rules__isnull=False)
    rules = PaymentRule.objects.using(using).bulk_create(
        [PaymentRule(version=version, **rule) for version in versions.order_by("pk")
         for rule in RULES])
    fields = [field.attname for field in PaymentRule._meta.concrete_fields]
    HistoricalPaymentRule.objects.using(using).bulk_create(
        [HistoricalPaymentRule(**{name: getattr(rule, name) for name in fields},
                               history_date=now, history_type="+",
                               history_change_reason=_REASON, history_user=None)
         for rule in rules])


def remove_payment_rules(apps, schema_editor):
    using = schema_editor.connection.alias
    PaymentRule = apps.get_model("pricing", "PaymentRule")
    HistoricalPaymentRule = apps.get_model("pricing", "HistoricalPaymentRule")
    PaymentRule.objects.using(using).all().delete()
    HistoricalPaymentRule.objects.using(using).all().delete()


class Migration(migrations.Migration):

    dependencies = [
        ("pricing", "0006_payment_rules"),
    ]

    operations = [
        migrations.RunPython(add_payment_rules, remove_payment_rules),
    ]
