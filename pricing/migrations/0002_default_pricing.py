"""Publish the default pricing of PRICING.md as the first pricing version (once: skipped when any
version exists). History rows are written too, so the admin shows where version 1 came from.
"""
from datetime import datetime, timezone

from django.db import migrations

DEFAULT_VERSION_NAME = "Default pricing (PRICING.md)"
DEFAULT_EFFECTIVE_FROM = datetime(2020, 1, 1, tzinfo=timezone.utc)
_REASON = "default pricing (migration 0002)"

# The fields as they are at this migration; later model fields are not set here.
_PRODUCT_FIELDS = (
    "product_type", "cu_vcpus", "cu_memory_mib", "cu_disk_mib", "price_cu_hold",
    "price_cu_payg_per_hour", "price_cu_credit_per_hour", "price_storage_hold_per_mib",
    "price_storage_payg_per_mib_hour", "price_storage_credit_per_mib_hour", "price_fixed_hold",
)


def _history(apps, using, model_name: str, objects: list) -> None:
    model = apps.get_model("pricing", model_name)
    historical = apps.get_model("pricing", f"Historical{model_name}")
    rows = []
    for obj in objects:
        values = {field.attname: getattr(obj, field.attname)
                  for field in model._meta.concrete_fields}
        rows.append(historical(**values, history_date=DEFAULT_EFFECTIVE_FROM, history_type="+",
                               history_change_reason=_REASON, history_user=None))
    historical.objects.using(using).bulk_create(rows)


def publish_default_pricing(apps, schema_editor):
    # Parsing the shared defaults keeps one mapping from the network's shape to the fields.
    from pricing.aggregate import parse_compatible_gpus, parse_price_aggregate
    from pricing.defaults import DEFAULT_COMPATIBLE_GPUS, DEFAULT_PRICE_AGGREGATE

    using = schema_editor.connection.alias
    PricingVersion = apps.get_model("pricing", "PricingVersion")
    Product = apps.get_model("pricing", "Product")
    Tier = apps.get_model("pricing", "Tier")
    GpuDevice = apps.get_model("pricing", "GpuDevice")
    if PricingVersion.objects.using(using).exists():
        return

    products = parse_price_aggregate(DEFAULT_PRICE_AGGREGATE)
    gpus = parse_compatible_gpus(DEFAULT_COMPATIBLE_GPUS)
    version = PricingVersion.objects.using(using).create(
        name=DEFAULT_VERSION_NAME, status="published", effective_from=DEFAULT_EFFECTIVE_FROM,
        published_at=DEFAULT_EFFECTIVE_FROM,
        notes="The network's default pricing as described in PRICING.md (data migration).")
    _history(apps, using, "PricingVersion", [version])

    product_rows, tier_rows, gpu_rows = [], [], []
    for spec in products:
        product = Product(version=version,
                          **{name: getattr(spec, name) for name in _PRODUCT_FIELDS})
        product.save(using=using)
        product_rows.append(product)
        for tier in spec.tiers:
            tier_row = Tier(version=version, product_type=spec.product_type,
                            tier_id=tier.tier_id, compute_units=tier.compute_units,
                            model=tier.model, vram_mib=tier.vram_mib)
            tier_row.save(using=using)
            tier_rows.append(tier_row)
    for gpu in gpus:
        device = GpuDevice(version=version, device_id=gpu.device_id, model=gpu.model,
                           name=gpu.name, vendor=gpu.vendor)
        device.save(using=using)
        gpu_rows.append(device)
    _history(apps, using, "Product", product_rows)
    _history(apps, using, "Tier", tier_rows)
    _history(apps, using, "GpuDevice", gpu_rows)


class Migration(migrations.Migration):

    dependencies = [
        ("pricing", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(publish_default_pricing, migrations.RunPython.noop),
    ]
