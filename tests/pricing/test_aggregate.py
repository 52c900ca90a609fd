"""Parsing the network's pricing and settings aggregates, and exporting versions back to them."""
from decimal import Decimal

import pytest

from pricing.aggregate import (
    AggregateInvalid,
    GpuSpec,
    ProductSpec,
    TierSpec,
    aggregate_json_loads,
    parse_compatible_gpus,
    parse_price_aggregate,
    table_from_aggregate,
    version_problems,
    version_to_aggregate,
    version_to_compatible_gpus,
)
from pricing.enums import ProductType
from pricing.selectors import pricing_table_from_version
from pricing.services import pricing_version_import

from .conftest import fresh_copy


def _errors(data, parse=parse_price_aggregate) -> list[str]:
    with pytest.raises(AggregateInvalid) as caught:
        parse(data)
    return caught.value.errors


def _by_type(products) -> dict[str, ProductSpec]:
    return {product.product_type: product for product in products}


# --- pricing aggregate: what is accepted ---------------------------------------------------------

def test_the_default_aggregate_parses_into_every_product_type(pricing_aggregate):
    products = parse_price_aggregate(pricing_aggregate)

    assert {p.product_type for p in products} == {t.value for t in ProductType}
    assert products.warnings == []


def test_a_parsed_product_carries_the_compute_unit_prices_and_tiers_of_the_aggregate(
        pricing_aggregate):
    products = _by_type(parse_price_aggregate(pricing_aggregate))

    assert products["instance"] == ProductSpec(
        product_type="instance", cu_vcpus=1, cu_memory_mib=2048, cu_disk_mib=20480,
        price_cu_hold=Decimal("1000"), price_cu_payg_per_hour=Decimal("0.055"),
        price_cu_credit_per_hour=Decimal("14250"), price_storage_hold_per_mib=Decimal("0.05"),
        price_storage_payg_per_mib_hour=Decimal("0.000000977"),
        price_storage_credit_per_mib_hour=Decimal("0.17967489030626108"),
        tiers=tuple(TierSpec(tier_id=f"tier-{i}", compute_units=cu)
                    for i, cu in enumerate([1, 2, 4, 6, 8, 12], start=1)))
    assert products["instance_gpu_premium"].tiers == (
        TierSpec(tier_id="tier-1", compute_units=16, model="A100", vram_mib=81920),
        TierSpec(tier_id="tier-2", compute_units=24, model="H100", vram_mib=81920),
    )


def test_an_absent_price_is_none_not_zero(pricing_aggregate):
    products = _by_type(parse_price_aggregate(pricing_aggregate))

    assert products["instance_gpu_standard"].price_storage_hold_per_mib is None
    assert products["storage"].price_cu_hold is None
    assert products["storage"].cu_vcpus is None
    assert products["web3_hosting"].price_fixed_hold == Decimal(50)


def test_a_price_with_17_significant_digits_is_kept_exactly():
    document = aggregate_json_loads(
        '{"storage": {"price": {"storage": {"credit": 0.17967489030626108}}}}')

    price = document["storage"]["price"]["storage"]["credit"]

    assert isinstance(price, Decimal)
    assert price == Decimal("0.17967489030626108")


@pytest.mark.parametrize("value, expected", [
    ("0", Decimal(0)),
    (0, Decimal(0)),
    ("14250", Decimal(14250)),
    ("1E+2", Decimal(100)),
    (Decimal("0.5"), Decimal("0.5")),
    ("0.000000000000000001", Decimal("1e-18")),
    # Trailing zeros beyond 18 places change nothing, so they are fine.
    ("0.100000000000000000000", Decimal("0.1")),
    ("99999999999999999999.999999999999999999",
     Decimal("99999999999999999999.999999999999999999")),
])
def test_a_price_may_be_a_decimal_string_or_a_json_number(pricing_aggregate, value, expected):
    pricing_aggregate["instance"]["price"]["compute_unit"]["credit"] = value

    products = _by_type(parse_price_aggregate(pricing_aggregate))

    assert products["instance"].price_cu_credit_per_hour == expected


@pytest.mark.parametrize("wrap", [
    lambda aggregate: {"data": {"pricing": aggregate}},
    lambda aggregate: {"pricing": aggregate},
    lambda aggregate: {"address": "0xFBA5", "data": {"pricing": aggregate}, "info": {}},
], ids=["api-answer", "pricing-key", "api-answer-with-address"])
def test_the_network_api_wrappers_around_the_aggregate_are_accepted(pricing_aggregate, wrap):
    assert parse_price_aggregate(wrap(pricing_aggregate)) == parse_price_aggregate(
        pricing_aggregate)


def test_web3_hosting_may_be_left_out(pricing_aggregate):
    del pricing_aggregate["web3_hosting"]

    products = parse_price_aggregate(pricing_aggregate)

    assert "web3_hosting" not in _by_type(products)


def test_an_unknown_product_type_is_skipped_with_a_warning(pricing_aggregate):
    pricing_aggregate["instance_tpu"] = {"price": {"compute_unit": {"credit": "1"}}}

    products = parse_price_aggregate(pricing_aggregate)

    assert "instance_tpu" not in _by_type(products)
    assert products.warnings == ["instance_tpu: unknown product type, ignored"]


# --- pricing aggregate: what is refused ----------------------------------------------------------

def test_every_problem_of_a_document_is_reported_with_its_json_path(pricing_aggregate):
    # given several independent problems in one document
    pricing_aggregate["instance"]["price"]["compute_unit"]["credit"] = "abc"
    pricing_aggregate["program"]["compute_unit"]["vcpus"] = 0
    pricing_aggregate["program_persistent"]["price"]["storage"]["holding"] = "-0.05"
    pricing_aggregate["instance_gpu_premium"]["tiers"][1]["compute_units"] = "24"
    del pricing_aggregate["storage"]

    # when
    errors = _errors(pricing_aggregate)

    # then each is listed, with its path
    assert errors == [
        "storage: missing (every product type but web3_hosting must be priced)",
        "program.compute_unit.vcpus: 0 is less than 1",
        'program_persistent.price.storage.holding: "-0.05" is negative; prices are 0 or more',
        'instance.price.compute_unit.credit: "abc" is not a decimal number',
        'instance_gpu_premium.tiers[1].compute_units: "24" is not a whole number',
    ]


@pytest.mark.parametrize("value, message", [
    ("abc", '"abc" is not a decimal number'),
    ("", '"" is not a decimal number'),
    ("NaN", '"NaN" is not a decimal number'),
    ("Infinity", '"Infinity" is not a decimal number'),
    ("1_000", '"1_000" is not a decimal number'),
    (" 1", '" 1" is not a decimal number'),
    (True, "true is not a decimal number"),
    ({}, "an object is not a decimal number"),
    ([], "a list is not a decimal number"),
    (Decimal("NaN"), "NaN is not a decimal number"),
    (0.055, "0.055 is a binary float; write prices as strings or read the JSON with "
            "parse_float=Decimal"),
    ("-1", '"-1" is negative; prices are 0 or more'),
    ("1e-19", '"1e-19" has 19 decimal places; at most 18 are kept'),
    ("0.0000000000000000001", '"0.0000000000000000001" has 19 decimal places; at most 18 are '
                              "kept"),
    ("100000000000000000000", '"100000000000000000000" is too large (at most 20 digits before '
                              "the decimal point)"),
    ("1e999999", '"1e999999" is too large (at most 20 digits before the decimal point)'),
])
def test_a_price_that_is_not_a_finite_non_negative_18_place_decimal_is_refused(
        pricing_aggregate, value, message):
    pricing_aggregate["instance"]["price"]["compute_unit"]["credit"] = value

    assert _errors(pricing_aggregate) == [f"instance.price.compute_unit.credit: {message}"]


def test_a_misspelt_price_key_is_an_error_because_it_would_read_as_a_zero_price(
        pricing_aggregate):
    storage = pricing_aggregate["program"]["price"]["storage"]
    storage["holdng"] = storage.pop("holding")

    assert _errors(pricing_aggregate) == [
        "program.price.storage.holdng: unknown key (expected one of credit, holding, payg)"]


@pytest.mark.parametrize("key, value, message", [
    ("vcpus", 0, "0 is less than 1"),
    ("memory_mib", -2048, "-2048 is less than 1"),
    ("disk_mib", 2048.5, "2048.5 is not a whole number"),
    ("disk_mib", "20480", '"20480" is not a whole number'),
    ("vcpus", True, "true is not a whole number"),
    ("memory_mib", 2**31, "2147483648 is too large (at most 2147483647)"),
])
def test_compute_unit_values_are_positive_whole_numbers(pricing_aggregate, key, value, message):
    pricing_aggregate["instance"]["compute_unit"][key] = value

    assert _errors(pricing_aggregate) == [f"instance.compute_unit.{key}: {message}"]


def test_a_product_priced_per_compute_unit_needs_its_compute_unit_and_its_price(
        pricing_aggregate):
    del pricing_aggregate["instance"]["compute_unit"]
    del pricing_aggregate["program"]["price"]["compute_unit"]
    del pricing_aggregate["instance_confidential"]["compute_unit"]["memory_mib"]

    assert _errors(pricing_aggregate) == [
        "program.price.compute_unit: missing (this product is priced per compute unit)",
        "instance.compute_unit: missing (vcpus, memory_mib, disk_mib)",
        "instance_confidential.compute_unit.memory_mib: missing",
    ]


def test_tiers_need_an_id_and_compute_units_and_gpu_tiers_a_model(pricing_aggregate):
    pricing_aggregate["instance"]["tiers"][0] = {"compute_units": 1}
    pricing_aggregate["instance"]["tiers"][1] = {"id": "tier-2", "compute_units": 0}
    pricing_aggregate["instance_gpu_standard"]["tiers"][2].pop("model")
    pricing_aggregate["instance_gpu_standard"]["tiers"][3]["vram"] = "49152"
    pricing_aggregate["program"]["tiers"] = {"tier-1": 1}

    assert _errors(pricing_aggregate) == [
        "program.tiers: is an object, expected a list of tiers",
        "instance.tiers[0].id: missing",
        "instance.tiers[1].compute_units: 0 is less than 1",
        "instance_gpu_standard.tiers[2].model: missing",
        'instance_gpu_standard.tiers[3].vram: "49152" is not a whole number',
    ]


def test_a_tier_id_used_twice_in_a_product_is_an_error(pricing_aggregate):
    pricing_aggregate["instance"]["tiers"][3]["id"] = "tier-1"

    assert _errors(pricing_aggregate) == [
        'instance.tiers[3].id: "tier-1" is already used by instance.tiers[0]']


def test_a_gpu_product_without_tiers_cannot_be_priced(pricing_aggregate):
    del pricing_aggregate["instance_gpu_premium"]["tiers"]

    assert _errors(pricing_aggregate) == [
        "instance_gpu_premium.tiers: missing (a GPU product needs its tiers: one per GPU model, "
        "with its compute units)"]


def test_a_product_without_price_is_an_error(pricing_aggregate):
    del pricing_aggregate["storage"]["price"]
    pricing_aggregate["web3_hosting"]["price"] = "50"

    assert _errors(pricing_aggregate) == [
        "storage.price: missing",
        "web3_hosting.price: is a string, expected an object",
    ]


@pytest.mark.parametrize("document", [[], "pricing", None, 3])
def test_a_document_that_is_not_an_object_is_refused(document):
    assert len(_errors(document)) == 1


def test_every_required_product_is_reported_missing_from_an_empty_object():
    errors = _errors({})

    assert [error.split(":")[0] for error in errors] == [
        "program", "program_persistent", "instance", "instance_confidential",
        "instance_gpu_standard", "instance_gpu_premium", "storage"]


# --- GPU catalogue -------------------------------------------------------------------------------

def test_the_default_gpu_catalogue_has_18_devices_with_unique_ids(compatible_gpus):
    gpus = parse_compatible_gpus(compatible_gpus)

    assert len(gpus) == 18
    assert len({gpu.device_id for gpu in gpus}) == 18
    assert GpuSpec(device_id="10de:2685", model="RTX 4090", name="AD102 [GeForce RTX 4090 D]",
                   vendor="NVIDIA") in gpus


@pytest.mark.parametrize("wrap", [
    lambda gpus: gpus,
    lambda gpus: {"compatible_gpus": gpus},
    lambda gpus: {"settings": {"compatible_gpus": gpus, "community_wallet_address": "0x"}},
    lambda gpus: {"data": {"settings": {"compatible_gpus": gpus}}},
], ids=["bare-list", "settings-aggregate", "settings-key", "api-answer"])
def test_the_gpu_catalogue_is_read_from_the_settings_aggregate_shapes(compatible_gpus, wrap):
    assert parse_compatible_gpus(wrap(compatible_gpus)) == parse_compatible_gpus(compatible_gpus)


def test_the_networks_duplicate_device_id_is_refused_naming_both_models(compatible_gpus):
    # given the live network's list, which maps 10de:2685 to two models
    compatible_gpus.insert(2, {"name": "GB202 [GeForce RTX 5090]", "model": "RTX 5090",
                               "vendor": "NVIDIA", "device_id": "10de:2685"})

    assert _errors(compatible_gpus, parse_compatible_gpus) == [
        'compatible_gpus[3].device_id: "10de:2685" is listed twice: as "RTX 5090" '
        '(compatible_gpus[2]) and as "RTX 4090" (compatible_gpus[3]); a device id must map to '
        "one model"]


def test_every_bad_gpu_entry_is_reported(compatible_gpus):
    compatible_gpus[0]["device_id"] = "10DE:26B9"
    compatible_gpus[1]["device_id"] = "10de2684"
    compatible_gpus[2]["model"] = ""
    del compatible_gpus[3]["device_id"]
    compatible_gpus[4] = "10de:2203"

    assert _errors(compatible_gpus, parse_compatible_gpus) == [
        'compatible_gpus[0].device_id: "10DE:26B9" is not a PCI device id (lowercase '
        "vendor:device hex, e.g. 10de:2684)",
        'compatible_gpus[1].device_id: "10de2684" is not a PCI device id (lowercase '
        "vendor:device hex, e.g. 10de:2684)",
        "compatible_gpus[2].model: is empty",
        "compatible_gpus[3].device_id: missing",
        "compatible_gpus[4]: is a string, expected an object",
    ]


def test_a_settings_aggregate_without_compatible_gpus_is_refused():
    assert _errors({"settings": {"other": 1}}, parse_compatible_gpus) == [
        "compatible_gpus: missing (expected a settings aggregate with a compatible_gpus list)"]


def test_unknown_keys_of_a_gpu_entry_are_warnings(compatible_gpus):
    compatible_gpus[0]["memory_gib"] = 48

    gpus = parse_compatible_gpus(compatible_gpus)

    assert gpus.warnings == ["compatible_gpus[0].memory_gib: unknown key, ignored"]


# --- reading JSON text ---------------------------------------------------------------------------

def test_json_that_does_not_parse_is_reported_with_line_and_column():
    with pytest.raises(AggregateInvalid) as caught:
        aggregate_json_loads('{\n  "program": {,}\n}', label="pricing.json")

    assert caught.value.errors == [
        "pricing.json: not valid JSON: Expecting property name enclosed in double quotes "
        "(line 2 column 15)"]


@pytest.mark.parametrize("text", ['{"a": NaN}', '{"a": Infinity}', b"\xff\xfe{}",
                                  "[" * 100_000])
def test_non_standard_or_hostile_json_is_refused_cleanly(text):
    with pytest.raises(AggregateInvalid):
        aggregate_json_loads(text)


# --- export --------------------------------------------------------------------------------------

def _as_exported(document):
    """The defaults as an export writes them: every price a string."""
    document = fresh_copy(document)
    document["web3_hosting"]["price"]["fixed"] = str(document["web3_hosting"]["price"]["fixed"])
    return document


def test_the_default_version_exports_as_the_default_aggregate(default_version,
                                                              pricing_aggregate):
    assert version_to_aggregate(default_version) == _as_exported(pricing_aggregate)


def test_the_default_version_exports_its_gpu_catalogue_in_the_settings_shape(default_version,
                                                                            compatible_gpus):
    exported = version_to_compatible_gpus(default_version)

    key = lambda gpu: gpu["device_id"]  # noqa: E731
    assert sorted(exported, key=key) == sorted(compatible_gpus, key=key)


def test_an_export_has_prices_as_strings_without_trailing_zeros(draft_version):
    exported = version_to_aggregate(draft_version)

    assert exported["instance"]["price"]["compute_unit"] == {
        "holding": "1000", "payg": "0.055", "credit": "14250"}
    assert exported["instance"]["price"]["storage"]["payg"] == "0.000000977"
    assert exported["web3_hosting"]["price"]["fixed"] == "50"


def test_an_export_leaves_out_empty_fields(draft_version):
    draft_version.products.filter(product_type="instance").update(price_cu_payg_per_hour=None)
    draft_version.tiers.filter(product_type="program").delete()

    exported = version_to_aggregate(draft_version)

    assert exported["instance"]["price"]["compute_unit"] == {"holding": "1000",
                                                             "credit": "14250"}
    assert "tiers" not in exported["program"]
    assert "holding" not in exported["instance_gpu_standard"]["price"]["storage"]
    assert set(exported["storage"]) == {"price"}


def test_export_then_import_gives_back_exactly_the_same_version(draft_version, staff_user):
    # given a version with odd but valid values
    draft_version.products.filter(product_type="instance").update(
        price_cu_credit_per_hour=Decimal("14250.000000000000000001"),
        price_storage_hold_per_mib=Decimal("0"))
    draft_version.tiers.filter(product_type="instance_gpu_premium", tier_id="tier-1").update(
        vram_mib=None)
    aggregate, gpus = version_to_aggregate(draft_version), version_to_compatible_gpus(
        draft_version)

    # when its export is imported
    copy = pricing_version_import(aggregate=fresh_copy(aggregate),
                                  compatible_gpus=fresh_copy(gpus), name="Round trip",
                                  user=staff_user)

    # then the new version exports identically and parses to the same specs
    assert version_to_aggregate(copy) == aggregate
    assert version_to_compatible_gpus(copy) == gpus
    assert parse_price_aggregate(version_to_aggregate(copy)) == parse_price_aggregate(aggregate)
    assert aggregate["instance"]["price"]["compute_unit"]["credit"] == "14250.000000000000000001"


def test_the_engine_table_of_an_export_equals_the_table_read_from_the_database(
        default_version):
    from_export = table_from_aggregate(version_to_aggregate(default_version),
                                       version_to_compatible_gpus(default_version),
                                       version_id=default_version.pk)

    assert from_export == pricing_table_from_version(default_version)


def test_a_complete_draft_has_no_problems(draft_version):
    assert version_problems(draft_version) == []


def test_the_problems_of_an_incomplete_draft_are_listed(draft_version):
    draft_version.products.filter(product_type="storage").delete()
    draft_version.products.filter(product_type="instance").update(cu_memory_mib=None)
    draft_version.tiers.filter(product_type="instance_gpu_premium").delete()

    assert version_problems(draft_version) == [
        "storage: missing (every product type but web3_hosting must be priced)",
        "instance.compute_unit.memory_mib: missing",
        "instance_gpu_premium.tiers: missing (a GPU product needs its tiers: one per GPU model, "
        "with its compute units)",
    ]


def test_tiers_of_a_product_type_without_its_product_row_are_reported(draft_version):
    draft_version.products.filter(product_type="program").delete()

    problems = version_problems(draft_version)

    assert problems[0] == "program.price: missing"
