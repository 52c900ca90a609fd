"""The network's current pricing and settings aggregates import without loss.

The documents are the node's own, copied verbatim (aleph-im/pyaleph
src/aleph/toolkit/constants.py, DEFAULT_PRICE_AGGREGATE and DEFAULT_SETTINGS_AGGREGATE: what a
node prices with when no aggregate was posted; its tests have no other copy of the live ones),
as JSON text, read the way an upload is read (`aggregate_json_loads`: every number exact).
"""
from decimal import Decimal
from operator import itemgetter

import pytest

from pricing.aggregate import (
    GPU_DUPLICATES_FIRST_WINS,
    AggregateInvalid,
    aggregate_json_loads,
    parse_compatible_gpus,
    parse_price_aggregate,
    table_from_aggregate,
    version_to_aggregate,
    version_to_compatible_gpus,
)
from pricing.enums import ProductType
from pricing.selectors import pricing_table_from_version
from pricing.services import pricing_version_import

pytestmark = pytest.mark.django_db

NETWORK_PRICING_JSON = """{
 "program": {
  "price": {
   "storage": {"payg": "0.000000977", "holding": "0.05", "credit": "0.977"},
   "compute_unit": {"payg": "0.011", "holding": "200", "credit": "11000"}
  },
  "tiers": [
   {"id": "tier-1", "compute_units": 1},
   {"id": "tier-2", "compute_units": 2},
   {"id": "tier-3", "compute_units": 4},
   {"id": "tier-4", "compute_units": 6},
   {"id": "tier-5", "compute_units": 8},
   {"id": "tier-6", "compute_units": 12}
  ],
  "compute_unit": {"vcpus": 1, "disk_mib": 2048, "memory_mib": 2048}
 },
 "storage": {
  "price": {
   "storage": {"holding": "0.333333333", "credit": "0.17967489030626108"}
  }
 },
 "instance": {
  "price": {
   "storage": {"payg": "0.000000977", "holding": "0.05", "credit": "0.17967489030626108"},
   "compute_unit": {"payg": "0.055", "holding": "1000", "credit": "14250"}
  },
  "tiers": [
   {"id": "tier-1", "compute_units": 1},
   {"id": "tier-2", "compute_units": 2},
   {"id": "tier-3", "compute_units": 4},
   {"id": "tier-4", "compute_units": 6},
   {"id": "tier-5", "compute_units": 8},
   {"id": "tier-6", "compute_units": 12}
  ],
  "compute_unit": {"vcpus": 1, "disk_mib": 20480, "memory_mib": 2048}
 },
 "web3_hosting": {
  "price": {
   "fixed": 50,
   "storage": {"holding": "0.333333333", "credit": "0.17967489030626108"}
  }
 },
 "program_persistent": {
  "price": {
   "storage": {"payg": "0.000000977", "holding": "0.05", "credit": "0.977"},
   "compute_unit": {"payg": "0.055", "holding": "1000", "credit": "55000"}
  },
  "tiers": [
   {"id": "tier-1", "compute_units": 1},
   {"id": "tier-2", "compute_units": 2},
   {"id": "tier-3", "compute_units": 4},
   {"id": "tier-4", "compute_units": 6},
   {"id": "tier-5", "compute_units": 8},
   {"id": "tier-6", "compute_units": 12}
  ],
  "compute_unit": {"vcpus": 1, "disk_mib": 20480, "memory_mib": 2048}
 },
 "instance_gpu_premium": {
  "price": {
   "storage": {"payg": "0.000000977", "credit": "0.17967489030626108"},
   "compute_unit": {"payg": "0.56", "holding": "560", "credit": "86250"}
  },
  "tiers": [
   {"id": "tier-1", "vram": 81920, "model": "A100", "compute_units": 16},
   {"id": "tier-2", "vram": 81920, "model": "H100", "compute_units": 24}
  ],
  "compute_unit": {"vcpus": 1, "disk_mib": 61440, "memory_mib": 6144}
 },
 "instance_confidential": {
  "price": {
   "storage": {"payg": "0.000000977", "holding": "0.05", "credit": "0.17967489030626108"},
   "compute_unit": {"payg": "0.11", "holding": "2000", "credit": "28500"}
  },
  "tiers": [
   {"id": "tier-1", "compute_units": 1},
   {"id": "tier-2", "compute_units": 2},
   {"id": "tier-3", "compute_units": 4},
   {"id": "tier-4", "compute_units": 6},
   {"id": "tier-5", "compute_units": 8},
   {"id": "tier-6", "compute_units": 12}
  ],
  "compute_unit": {"vcpus": 1, "disk_mib": 20480, "memory_mib": 2048}
 },
 "instance_gpu_standard": {
  "price": {
   "storage": {"payg": "0.000000977", "credit": "0.17967489030626108"},
   "compute_unit": {"payg": "0.28", "holding": "280", "credit": "43125"}
  },
  "tiers": [
   {"id": "tier-1", "vram": 20480, "model": "RTX 4000 ADA", "compute_units": 3},
   {"id": "tier-2", "vram": 24576, "model": "RTX 3090", "compute_units": 4},
   {"id": "tier-3", "vram": 24576, "model": "RTX 4090", "compute_units": 6},
   {"id": "tier-4", "vram": 49152, "model": "L40S", "compute_units": 12}
  ],
  "compute_unit": {"vcpus": 1, "disk_mib": 61440, "memory_mib": 6144}
 }
}
"""

NETWORK_SETTINGS_JSON = """{
 "compatible_gpus": [
  {"name": "AD102GL [L40S]", "model": "L40S",
   "vendor": "NVIDIA", "device_id": "10de:26b9"},
  {"name": "GB202 [GeForce RTX 5090]", "model": "RTX 5090",
   "vendor": "NVIDIA", "device_id": "10de:2685"},
  {"name": "GB202 [GeForce RTX 5090 D]", "model": "RTX 5090",
   "vendor": "NVIDIA", "device_id": "10de:2687"},
  {"name": "AD102 [GeForce RTX 4090]", "model": "RTX 4090",
   "vendor": "NVIDIA", "device_id": "10de:2684"},
  {"name": "AD102 [GeForce RTX 4090 D]", "model": "RTX 4090",
   "vendor": "NVIDIA", "device_id": "10de:2685"},
  {"name": "GA102 [GeForce RTX 3090]", "model": "RTX 3090",
   "vendor": "NVIDIA", "device_id": "10de:2204"},
  {"name": "GA102 [GeForce RTX 3090 Ti]", "model": "RTX 3090",
   "vendor": "NVIDIA", "device_id": "10de:2203"},
  {"name": "AD104GL [RTX 4000 SFF Ada Generation]", "model": "RTX 4000 ADA",
   "vendor": "NVIDIA", "device_id": "10de:27b0"},
  {"name": "AD104GL [RTX 4000 Ada Generation]", "model": "RTX 4000 ADA",
   "vendor": "NVIDIA", "device_id": "10de:27b2"},
  {"name": "GH100 [H100]", "model": "H100",
   "vendor": "NVIDIA", "device_id": "10de:2336"},
  {"name": "GH100 [H100 NVSwitch]", "model": "H100",
   "vendor": "NVIDIA", "device_id": "10de:22a3"},
  {"name": "GH100 [H100 CNX]", "model": "H100",
   "vendor": "NVIDIA", "device_id": "10de:2313"},
  {"name": "GH100 [H100 SXM5 80GB]", "model": "H100",
   "vendor": "NVIDIA", "device_id": "10de:2330"},
  {"name": "GH100 [H100 PCIe]", "model": "H100",
   "vendor": "NVIDIA", "device_id": "10de:2331"},
  {"name": "GA100", "model": "A100",
   "vendor": "NVIDIA", "device_id": "10de:2080"},
  {"name": "GA100", "model": "A100",
   "vendor": "NVIDIA", "device_id": "10de:2081"},
  {"name": "GA100 [A100 SXM4 80GB]", "model": "A100",
   "vendor": "NVIDIA", "device_id": "10de:20b2"},
  {"name": "GA100 [A100 PCIe 80GB]", "model": "A100",
   "vendor": "NVIDIA", "device_id": "10de:20b5"},
  {"name": "GA100 [A100X]", "model": "A100",
   "vendor": "NVIDIA", "device_id": "10de:20b8"}
 ],
 "community_wallet_address": "0x5aBd3258C5492fD378EBC2e0017416E199e5Da56",
 "community_wallet_timestamp": 1739301770
}
"""


@pytest.fixture
def network_pricing():
    return aggregate_json_loads(NETWORK_PRICING_JSON)


@pytest.fixture
def network_settings():
    return aggregate_json_loads(NETWORK_SETTINGS_JSON)


def _network_lookup(compatible_gpus) -> dict[str, str]:
    """Device id → model as the node finds it: the first entry of the list that matches
    (src/aleph/services/cost.py walks `compatible_gpus` and stops at the first match)."""
    models: dict[str, str] = {}
    for gpu in compatible_gpus:
        models.setdefault(gpu["device_id"], gpu["model"])
    return models


def _leaves(document, path=""):
    """Every (path, value) of a JSON document; numbers, and prices written as strings, become
    Decimals, so `50` and `"50"` compare equal but nothing else does."""
    if isinstance(document, dict):
        for key, value in document.items():
            yield from _leaves(value, f"{path}.{key}")
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from _leaves(value, f"{path}[{index}]")
    elif isinstance(document, (int, Decimal)) and not isinstance(document, bool):
        yield path, Decimal(document)
    elif isinstance(document, str) and ".price." in f"{path}.":
        yield path, Decimal(document)
    else:
        yield path, document


def _import(network_pricing, network_settings):
    return pricing_version_import(aggregate=network_pricing, compatible_gpus=network_settings,
                                  name="The network, today",
                                  gpu_duplicates=GPU_DUPLICATES_FIRST_WINS)


# --- the pricing aggregate -----------------------------------------------------------------------

def test_every_product_type_of_the_network_is_known_here(network_pricing):
    assert set(network_pricing) == {p.value for p in ProductType}
    assert parse_price_aggregate(network_pricing).warnings == []


def test_the_pricing_aggregate_round_trips_with_nothing_dropped(network_pricing,
                                                                network_settings):
    version = _import(network_pricing, network_settings)

    exported = version_to_aggregate(version)

    # every key and value of the network's document, and nothing else, in the export
    assert dict(_leaves(exported)) == dict(_leaves(network_pricing))
    assert version.products.count() == 8
    assert version.tiers.count() == 4 * 6 + 4 + 2


def test_the_gpu_tier_models_of_the_pricing_aggregate_are_all_kept(network_pricing,
                                                                   network_settings):
    version = _import(network_pricing, network_settings)

    imported = set(version.tiers.exclude(model="").values_list("product_type", "tier_id",
                                                               "model", "vram_mib",
                                                               "compute_units"))

    assert imported == {
        (product_type, tier["id"], tier["model"], tier["vram"], tier["compute_units"])
        for product_type in ("instance_gpu_standard", "instance_gpu_premium")
        for tier in network_pricing[product_type]["tiers"]}
    assert {model for *_, model, _, _ in imported} == {
        "RTX 4000 ADA", "RTX 3090", "RTX 4090", "L40S", "A100", "H100"}


def test_the_engine_reads_the_imported_version_as_it_reads_the_networks_documents(
        network_pricing, network_settings):
    version = _import(network_pricing, network_settings)

    assert pricing_table_from_version(version) == table_from_aggregate(
        network_pricing, network_settings["compatible_gpus"], version_id=version.pk)


def test_the_web3_hosting_fixed_price_is_kept(network_pricing, network_settings):
    version = _import(network_pricing, network_settings)

    assert version.products.get(product_type="web3_hosting").price_fixed_hold == Decimal(50)


# --- the settings aggregate's GPU catalogue ------------------------------------------------------

def test_the_networks_gpu_list_is_refused_by_default_for_its_repeated_device_id(
        network_settings):
    with pytest.raises(AggregateInvalid) as caught:
        parse_compatible_gpus(network_settings)

    assert caught.value.errors == [
        'compatible_gpus[4].device_id: "10de:2685" is listed twice: as "RTX 5090" '
        '(compatible_gpus[1]) and as "RTX 4090" (compatible_gpus[4]); a device id must map to '
        "one model"]


def test_the_networks_gpu_list_imports_as_the_network_reads_it(network_pricing,
                                                               network_settings):
    gpus = network_settings["compatible_gpus"]

    version = _import(network_pricing, network_settings)

    # every device id maps to the model the node finds for it
    catalogue = dict(version.gpu_devices.values_list("device_id", "model"))
    assert catalogue == _network_lookup(gpus)
    assert catalogue["10de:2685"] == "RTX 5090"
    # every GPU model of the list is kept
    assert set(catalogue.values()) == {gpu["model"] for gpu in gpus}
    # the one entry the node never reads is ignored, and the import says so
    assert version.import_warnings == [
        'compatible_gpus[4].device_id: "10de:2685" is listed again, as "RTX 4090"; the network '
        'reads the first entry (compatible_gpus[1], "RTX 5090"), so this one is ignored']


def test_the_gpu_export_is_the_networks_list_but_the_entry_it_never_reads(network_pricing,
                                                                          network_settings):
    version = _import(network_pricing, network_settings)
    read_by_the_node = [gpu for index, gpu in enumerate(network_settings["compatible_gpus"])
                        if index != 4]

    exported = version_to_compatible_gpus(version)

    by_device = itemgetter("device_id")
    assert sorted(exported, key=by_device) == sorted(read_by_the_node, key=by_device)
