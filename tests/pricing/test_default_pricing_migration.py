"""Migration 0002 publishes the default pricing of PRICING.md as the first version."""
import importlib
from datetime import datetime, timezone
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection

from pricing.enums import VersionStatus
from pricing.models import GpuDevice, PricingVersion, Product, Tier
from pricing.selectors import pricing_version_in_force

migration = importlib.import_module("pricing.migrations.0002_default_pricing")

pytestmark = pytest.mark.django_db

JAN_2020 = datetime(2020, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def migrated_version():
    """The version the migration created (pytest-django keeps migration data outside
    transactional tests)."""
    return PricingVersion.objects.get(name="Default pricing (PRICING.md)")


def _product(version, product_type) -> Product:
    return version.products.get(product_type=product_type)


def test_the_default_pricing_is_the_first_published_version_since_2020(migrated_version):
    assert migrated_version.status == VersionStatus.PUBLISHED
    assert migrated_version.effective_from == JAN_2020
    assert migrated_version.published_at == JAN_2020
    assert pricing_version_in_force(at=datetime(2020, 6, 1, tzinfo=timezone.utc)) == \
        migrated_version


# The rows of PRICING.md's table, written out here rather than read from pricing/defaults.py.
@pytest.mark.parametrize("product_type, cu, hold, payg, credit, storage", [
    ("program", (1, 2048, 2048), "200", "0.011", "11000", ("0.05", "0.000000977", "0.977")),
    ("program_persistent", (1, 2048, 20480), "1000", "0.055", "55000",
     ("0.05", "0.000000977", "0.977")),
    ("instance", (1, 2048, 20480), "1000", "0.055", "14250",
     ("0.05", "0.000000977", "0.17967489030626108")),
    ("instance_confidential", (1, 2048, 20480), "2000", "0.11", "28500",
     ("0.05", "0.000000977", "0.17967489030626108")),
    ("instance_gpu_standard", (1, 6144, 61440), "280", "0.28", "43125",
     (None, "0.000000977", "0.17967489030626108")),
    ("instance_gpu_premium", (1, 6144, 61440), "560", "0.56", "86250",
     (None, "0.000000977", "0.17967489030626108")),
])
def test_compute_products_have_the_prices_of_pricing_md(migrated_version, product_type, cu,
                                                        hold, payg, credit, storage):
    product = _product(migrated_version, product_type)

    assert (product.cu_vcpus, product.cu_memory_mib, product.cu_disk_mib) == cu
    assert product.price_cu_hold == Decimal(hold)
    assert product.price_cu_payg_per_hour == Decimal(payg)
    assert product.price_cu_credit_per_hour == Decimal(credit)
    assert (product.price_storage_hold_per_mib, product.price_storage_payg_per_mib_hour,
            product.price_storage_credit_per_mib_hour) == tuple(
        None if value is None else Decimal(value) for value in storage)


def test_storage_and_web3_hosting_have_the_prices_of_pricing_md(migrated_version):
    storage = _product(migrated_version, "storage")
    hosting = _product(migrated_version, "web3_hosting")

    assert storage.price_storage_hold_per_mib == Decimal("0.333333333")
    assert storage.price_storage_payg_per_mib_hour is None
    assert storage.price_storage_credit_per_mib_hour == Decimal("0.17967489030626108")
    assert storage.cu_vcpus is None and storage.price_cu_hold is None
    assert hosting.price_fixed_hold == Decimal(50)
    assert hosting.price_storage_hold_per_mib == Decimal("0.333333333")


@pytest.mark.parametrize("product_type", ["program", "program_persistent", "instance",
                                          "instance_confidential"])
def test_standard_products_have_six_tiers(migrated_version, product_type):
    tiers = migrated_version.tiers.filter(product_type=product_type).order_by("compute_units")

    assert [(t.tier_id, t.compute_units) for t in tiers] == [
        ("tier-1", 1), ("tier-2", 2), ("tier-3", 4), ("tier-4", 6), ("tier-5", 8),
        ("tier-6", 12)]


def test_gpu_tiers_have_the_models_vram_and_compute_units_of_pricing_md(migrated_version):
    tiers = migrated_version.tiers.filter(product_type__startswith="instance_gpu")

    assert {(t.product_type, t.tier_id, t.model, t.vram_mib, t.compute_units)
            for t in tiers} == {
        ("instance_gpu_standard", "tier-1", "RTX 4000 ADA", 20480, 3),
        ("instance_gpu_standard", "tier-2", "RTX 3090", 24576, 4),
        ("instance_gpu_standard", "tier-3", "RTX 4090", 24576, 6),
        ("instance_gpu_standard", "tier-4", "L40S", 49152, 12),
        ("instance_gpu_premium", "tier-1", "A100", 81920, 16),
        ("instance_gpu_premium", "tier-2", "H100", 81920, 24),
    }


def test_the_gpu_catalogue_has_18_devices_each_id_once(migrated_version):
    devices = dict(migrated_version.gpu_devices.values_list("device_id", "model"))

    assert migrated_version.gpu_devices.count() == len(devices) == 18
    assert devices == {
        "10de:26b9": "L40S", "10de:2684": "RTX 4090", "10de:2685": "RTX 4090",
        "10de:2204": "RTX 3090", "10de:2203": "RTX 3090", "10de:27b0": "RTX 4000 ADA",
        "10de:27b2": "RTX 4000 ADA", "10de:2336": "H100", "10de:22a3": "H100",
        "10de:2313": "H100", "10de:2330": "H100", "10de:2331": "H100", "10de:2080": "A100",
        "10de:2081": "A100", "10de:20b2": "A100", "10de:20b5": "A100", "10de:20b8": "A100",
        "10de:2687": "RTX 5090",
    }


def test_the_migration_writes_history_for_every_row(migrated_version):
    assert migrated_version.history.get().history_type == "+"
    assert Product.history.filter(version_id=migrated_version.pk).count() == 8
    assert Tier.history.filter(version_id=migrated_version.pk).count() == 30
    assert GpuDevice.history.filter(version_id=migrated_version.pk).count() == 18


def _run_migration():
    migration.publish_default_pricing(apps, SimpleNamespace(connection=connection))


def test_running_the_migration_again_changes_nothing(migrated_version):
    before = [model.objects.count() for model in (PricingVersion, Product, Tier, GpuDevice)]

    _run_migration()

    assert [model.objects.count() for model in (PricingVersion, Product, Tier, GpuDevice)] == \
        before


def test_on_an_empty_database_the_migration_creates_the_default_version(migrated_version):
    PricingVersion.objects.all().delete()

    _run_migration()

    version = PricingVersion.objects.get()
    assert (version.name, version.status, version.products.count(), version.tiers.count(),
            version.gpu_devices.count()) == ("Default pricing (PRICING.md)",
                                             VersionStatus.PUBLISHED, 8, 30, 18)


def test_the_migration_can_be_reversed():
    assert all(operation.reversible for operation in migration.Migration.operations)
