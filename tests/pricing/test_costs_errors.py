"""Contents the cost engine cannot price: each gives a typed error with a code, a message that
says what is wrong and the details the API puts in its error shape."""
from decimal import Decimal
from types import SimpleNamespace

import pytest

from pricing.aggregate import table_from_aggregate
from pricing.content import parse_content
from pricing.costs import (
    CostError,
    GpuModelNotPriced,
    ProductNotPriced,
    UnknownGpuDevice,
    UnknownVolumeSize,
    compute_costs,
)
from pricing.defaults import DEFAULT_COMPATIBLE_GPUS, DEFAULT_PRICE_AGGREGATE
from tests.pricing.contents import (
    CODE_REF,
    RUNTIME_REF,
    STORE_REF,
    gpu,
    immutable_volume,
    instance_content,
    program_content,
    store_content,
)


def costs(message_type, content, table, *, estimate=True, **kwargs):
    return compute_costs(parse_content(message_type, content, estimate=estimate), table, **kwargs)


def _table_without(*product_types):
    aggregate = {k: v for k, v in DEFAULT_PRICE_AGGREGATE.items() if k not in product_types}
    return table_from_aggregate(aggregate, DEFAULT_COMPATIBLE_GPUS)


def test_unknown_gpu_device_id_is_refused_with_its_id(default_table):
    content = instance_content(gpus=[gpu("10de:ffff")])

    with pytest.raises(UnknownGpuDevice) as caught:
        costs("INSTANCE", content, default_table)

    error = caught.value
    assert error.code == "unknown_gpu_device"
    assert error.details == {"device_id": "10de:ffff"}
    assert "10de:ffff" in error.message and "catalogue" in error.message
    assert isinstance(error, CostError)


def test_unknown_gpu_is_refused_even_after_a_known_one(default_table):
    content = instance_content(gpus=[gpu("10de:2684"), gpu("1002:73bf")])

    with pytest.raises(UnknownGpuDevice) as caught:
        costs("INSTANCE", content, default_table)

    assert caught.value.details["device_id"] == "1002:73bf"


def test_rtx_5090_in_the_catalogue_but_in_no_tier_is_not_priced(default_table):
    content = instance_content(gpus=[gpu("10de:2687")], vcpus=4, memory=8192)

    with pytest.raises(GpuModelNotPriced) as caught:
        costs("INSTANCE", content, default_table)

    error = caught.value
    assert error.code == "gpu_model_not_priced"
    assert error.details == {"device_id": "10de:2687", "model": "RTX 5090"}
    assert "RTX 5090" in error.message and "tier" in error.message


def test_program_code_of_unknown_size_is_refused_rather_than_priced_as_zero(default_table):
    # an estimate without estimated_size_mib whose code is no registered STORE
    content = program_content(runtime_size_mib=100)

    with pytest.raises(UnknownVolumeSize) as caught:
        costs("PROGRAM", content, default_table, ref_sizes_mib={RUNTIME_REF: Decimal(100)})

    error = caught.value
    assert error.code == "unknown_volume_size"
    assert error.details == {"ref": CODE_REF, "volume": "code"}
    assert CODE_REF in error.message and "estimated_size_mib" in error.message


def test_registered_program_runtime_of_unknown_size_is_refused(default_table):
    content = program_content()

    with pytest.raises(UnknownVolumeSize) as caught:
        costs("PROGRAM", content, default_table, estimate=False,
              ref_sizes_mib={CODE_REF: Decimal(5)})

    assert caught.value.details == {"ref": RUNTIME_REF, "volume": "runtime"}


def test_immutable_volume_of_unknown_size_is_refused_with_its_index(default_table):
    content = instance_content(volumes=[immutable_volume(STORE_REF, mount="/models")])

    with pytest.raises(UnknownVolumeSize) as caught:
        costs("INSTANCE", content, default_table)

    assert caught.value.details == {"ref": STORE_REF, "volume": "volume #0"}
    assert "volume #0" in caught.value.message


def test_store_without_size_or_estimate_is_refused(default_table):
    content = store_content()

    with pytest.raises(UnknownVolumeSize) as caught:
        costs("STORE", content, default_table)

    error = caught.value
    assert error.code == "unknown_volume_size"
    assert error.details == {"ref": STORE_REF}
    assert "size" in error.message and "estimated_size_mib" in error.message


@pytest.mark.parametrize("message_type, content, missing", [
    ("INSTANCE", instance_content(), "instance"),
    ("INSTANCE", instance_content(confidential=True), "instance_confidential"),
    ("PROGRAM", program_content(code_size_mib=1, runtime_size_mib=1), "program"),
    ("PROGRAM", program_content(persistent=True, code_size_mib=1, runtime_size_mib=1),
     "program_persistent"),
    ("STORE", store_content(size=1024), "storage"),
    ("INSTANCE", instance_content(gpus=[gpu("10de:2684")]), "instance_gpu_standard"),
    ("INSTANCE", instance_content(gpus=[gpu("10de:2684")]), "instance_gpu_premium"),
])
def test_a_table_missing_the_product_refuses_to_price_it(message_type, content, missing):
    table = _table_without(missing)

    with pytest.raises(ProductNotPriced) as caught:
        costs(message_type, content, table)

    error = caught.value
    assert error.code == "product_not_priced"
    assert error.details == {"product_type": missing}
    assert f"'{missing}'" in error.message


def test_a_product_without_compute_unit_price_is_not_priced():
    aggregate = dict(DEFAULT_PRICE_AGGREGATE)
    aggregate["instance"] = {"price": {"storage": {"holding": "0.05"}}}
    table = table_from_aggregate(aggregate, DEFAULT_COMPATIBLE_GPUS)

    with pytest.raises(ProductNotPriced) as caught:
        costs("INSTANCE", instance_content(), table)

    assert caught.value.details == {"product_type": "instance"}
    assert "compute unit" in caught.value.message


def test_confidential_gpus_are_refused_rather_than_priced_as_free(default_table):
    # given a confidential instance whose cards are requested in trusted_execution.gpu
    # (building a fully measured TEE content is long; the engine only reads these attributes)
    parsed = parse_content("INSTANCE", instance_content(payment="credit"), estimate=True)
    trusted = SimpleNamespace(gpu=SimpleNamespace(vendor="nvidia", arch="hopper", count=1))
    parsed = parsed.model_copy(update={
        "environment": parsed.environment.model_copy(update={"trusted_execution": trusted})})

    # when / then
    with pytest.raises(GpuModelNotPriced, match="trusted_execution.gpu"):
        compute_costs(parsed, default_table)
