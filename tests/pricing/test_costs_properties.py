"""Properties of the cost engine over generated contents (Hypothesis); no database needed.

The pricing is the default table of PRICING.md. Contents are built with the test builders and
parsed as estimates, so every generated content is one the API would accept.
"""
from decimal import ROUND_FLOOR, Context, Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pricing.aggregate import table_from_aggregate
from pricing.content import parse_content
from pricing.costs import MIN_CREDIT_COST_PER_SECOND, compute_costs
from pricing.defaults import DEFAULT_COMPATIBLE_GPUS, DEFAULT_PRICE_AGGREGATE
from pricing.enums import CostRowType
from tests.pricing.contents import (
    ephemeral_volume,
    gpu,
    immutable_volume,
    instance_content,
    persistent_volume,
    program_content,
    store_content,
)

TABLE = table_from_aggregate(DEFAULT_PRICE_AGGREGATE, DEFAULT_COMPATIBLE_GPUS, version_id=1)
PRICED_GPUS = sorted(d["device_id"] for d in DEFAULT_COMPATIBLE_GPUS if d["model"] != "RTX 5090")
GPU_PRODUCTS = {"instance_gpu_standard", "instance_gpu_premium"}
EXECUTION = CostRowType.EXECUTION.value
DISCOUNT = CostRowType.EXECUTION_VOLUME_DISCOUNT.value
COLUMNS = ("cost_hold", "cost_stream_per_second", "cost_credit_per_second")
COLUMN_OF_PAYMENT = {"hold": "cost_hold", "superfluid": "cost_stream_per_second",
                     "credit": "cost_credit_per_second"}
_CONTEXT = Context(prec=28)
_QUANTUM = Decimal(1).scaleb(-18)

# The autouse cache-clearing fixture of tests/conftest.py is harmless to rerun per example.
PROPERTY_SETTINGS = settings(max_examples=100, deadline=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture])


def _floor18(value: Decimal) -> Decimal:
    return value.quantize(_QUANTUM, rounding=ROUND_FLOOR, context=_CONTEXT)


def _column_sum(rows, column: str) -> Decimal:
    total = Decimal(0)
    for row in rows:
        total = _CONTEXT.add(total, getattr(row, column))
    return total


def _execution(breakdown, column: str) -> Decimal:
    return _column_sum([r for r in breakdown.rows if r.type == EXECUTION], column)


def _volumes(breakdown) -> list:
    return [r for r in breakdown.rows if r.type not in (EXECUTION, DISCOUNT)]


def _total(breakdown, column: str) -> Decimal:
    return {"cost_hold": breakdown.hold_total,
            "cost_stream_per_second": breakdown.stream_per_second,
            "cost_credit_per_second": breakdown.credit_per_second}[column]


def price(message_type: str, content: dict, ref_sizes_mib=None):
    parsed = parse_content(message_type, content, estimate=True)
    return compute_costs(parsed, TABLE, ref_sizes_mib=ref_sizes_mib)


# --- strategies --------------------------------------------------------------------------------

payments = st.sampled_from(["hold", "credit", "superfluid"])
vcpus = st.integers(min_value=1, max_value=64)
memories = st.integers(min_value=1, max_value=256 * 1024)
disk_sizes = st.integers(min_value=1, max_value=200_000)
volume_lists = st.lists(st.one_of(
    st.builds(persistent_volume, disk_sizes,
              mount=st.one_of(st.none(), st.sampled_from(["/data", "/var/lib/db"]))),
    st.builds(ephemeral_volume, st.integers(min_value=1, max_value=1000)),
    st.builds(immutable_volume, estimated_size_mib=st.integers(min_value=1, max_value=50_000),
              mount=st.one_of(st.none(), st.just("/opt/models"))),
), max_size=4)
gpu_lists = st.lists(st.sampled_from(PRICED_GPUS), min_size=1, max_size=3)


@st.composite
def instance_params(draw, *, with_gpus=None):
    """Keyword arguments of `instance_content`; GPUs drawn when `with_gpus` is None or True."""
    has_gpus = draw(st.booleans()) if with_gpus is None else with_gpus
    return {
        "vcpus": draw(vcpus),
        "memory": draw(memories),
        "rootfs_size_mib": draw(disk_sizes),
        "payment": draw(payments),
        "confidential": draw(st.booleans()),
        "volumes": draw(volume_lists),
        "gpus": [gpu(d) for d in draw(gpu_lists)] if has_gpus else [],
    }


@st.composite
def program_params(draw):
    return {
        "vcpus": draw(vcpus),
        "memory": draw(memories),
        "internet": draw(st.booleans()),
        "persistent": draw(st.booleans()),
        "payment": draw(payments),
        "code_size_mib": draw(st.integers(min_value=1, max_value=10_000)),
        "runtime_size_mib": draw(st.integers(min_value=1, max_value=10_000)),
        "data_size_mib": draw(st.one_of(st.none(), st.integers(min_value=1, max_value=10_000))),
        "volumes": draw(volume_lists),
    }


store_params = st.fixed_dictionaries({
    "payment": st.sampled_from(["hold", "credit"]),
    "size": st.integers(min_value=0, max_value=1024 ** 4),
})


@st.composite
def any_priced(draw):
    """(message type, content) of any kind the engine prices."""
    kind = draw(st.sampled_from(["INSTANCE", "PROGRAM", "STORE"]))
    if kind == "INSTANCE":
        return kind, instance_content(**draw(instance_params()))
    if kind == "PROGRAM":
        return kind, program_content(**draw(program_params()))
    return kind, store_content(**draw(store_params))


# --- totals and exactness ----------------------------------------------------------------------

@PROPERTY_SETTINGS
@given(any_priced())
def test_a_total_is_the_floored_sum_of_its_rows_for_the_payment_type(priced):
    breakdown = price(*priced)

    column = COLUMN_OF_PAYMENT[breakdown.payment_type]
    assert breakdown.total == _floor18(_column_sum(breakdown.rows, column))
    for other in COLUMNS:
        assert _total(breakdown, other) == _floor18(_column_sum(breakdown.rows, other))


@PROPERTY_SETTINGS
@given(any_priced())
def test_every_amount_is_a_decimal_with_exactly_18_decimals(priced):
    breakdown = price(*priced)

    amounts = [getattr(row, column) for row in breakdown.rows for column in COLUMNS]
    amounts += [breakdown.hold_total, breakdown.stream_per_second, breakdown.credit_per_second]
    for amount in amounts:
        assert type(amount) is Decimal
        assert amount.as_tuple().exponent == -18
        assert not f"{amount:.18f}".startswith("-0.000000000000000000")  # no negative zero
    for row in breakdown.rows:
        assert row.size_mib is None or type(row.size_mib) is Decimal


@PROPERTY_SETTINGS
@given(any_priced())
def test_pricing_the_same_content_twice_gives_the_same_breakdown(priced):
    message_type, content = priced

    assert price(message_type, content) == price(message_type, content)


# --- discount ----------------------------------------------------------------------------------

@PROPERTY_SETTINGS
@given(st.one_of(st.builds(lambda p: ("INSTANCE", instance_content(**p)), instance_params()),
                 st.builds(lambda p: ("PROGRAM", program_content(**p)), program_params())))
def test_the_discount_is_never_positive_nor_larger_than_the_volume_rows(priced):
    breakdown = price(*priced)

    discount = breakdown.rows[-1]
    assert discount.type == DISCOUNT
    for column in COLUMNS:
        value = getattr(discount, column)
        assert value <= 0
        assert -value <= _column_sum(_volumes(breakdown), column)


# --- credit floor ------------------------------------------------------------------------------

@PROPERTY_SETTINGS
@given(any_priced())
def test_with_credit_every_volume_and_non_gpu_execution_row_costs_one_credit_an_hour(priced):
    message_type, content = priced
    content["payment"] = {"chain": "ETH", "type": "credit"}
    content.get("requirements", {}).pop("node", None)

    breakdown = price(message_type, content)

    for row in breakdown.rows:
        if row.type == DISCOUNT or (row.type == EXECUTION and row.name in GPU_PRODUCTS):
            continue
        assert row.cost_credit_per_second >= MIN_CREDIT_COST_PER_SECOND


# --- monotonicity ------------------------------------------------------------------------------

def _unit_pays_for_its_disk(product_type: str, column: str) -> bool:
    """Whether one CU costs at least the storage it includes, in that column; only then is a
    larger CU count certain not to lower the total once storage beyond the allowance is paid."""
    product = TABLE.product(product_type)
    cu, storage, disk = product.compute_unit_price, product.storage, product.compute_unit.disk_mib
    attr = {"cost_hold": "hold", "cost_stream_per_second": "payg_per_hour",
            "cost_credit_per_second": "credit_per_hour"}[column]
    return getattr(cu, attr) >= disk * getattr(storage, attr)


@PROPERTY_SETTINGS
@given(st.sampled_from(["INSTANCE", "PROGRAM"]), st.data(),
       st.integers(min_value=1, max_value=64 * 1024), st.integers(min_value=0, max_value=8))
def test_more_memory_or_vcpus_never_costs_less(message_type, data, extra_memory, extra_vcpus):
    # given the same content with more memory and at least as many vCPUs
    params = data.draw(instance_params() if message_type == "INSTANCE" else program_params())
    build = instance_content if message_type == "INSTANCE" else program_content
    larger_params = {**params, "memory": min(params["memory"] + extra_memory, 1024 * 1024),
                     "vcpus": params["vcpus"] + extra_vcpus}

    small, large = price(message_type, build(**params)), price(message_type, build(**larger_params))

    # then the execution rows never cost less, in any column
    for column in COLUMNS:
        assert _execution(large, column) >= _execution(small, column)
    # and the total never costs less wherever a unit is worth its included disk (GPU instances:
    # hold, whose GPU storage is free; the GPU CUs are a floor so more resources can only add)
    for column in COLUMNS:
        if small.product_type in GPU_PRODUCTS:
            comparable = column == "cost_hold"
        else:
            comparable = _unit_pays_for_its_disk(small.product_type, column)
        if comparable:
            assert _total(large, column) >= _total(small, column)


@PROPERTY_SETTINGS
@given(instance_params(with_gpus=True), st.integers(min_value=1, max_value=64))
def test_gpu_units_are_a_lower_bound_that_extra_vcpus_never_lower(params, extra_vcpus):
    base = price("INSTANCE", instance_content(**params))
    more = price("INSTANCE", instance_content(**{**params, "vcpus": params["vcpus"] + extra_vcpus}))

    # GPU CUs: the execution hold over the hold price per CU of each row's product
    def execution_units(breakdown):
        return sum(int(row.cost_hold / TABLE.product(row.name).compute_unit_price.hold)
                   for row in breakdown.rows if row.type == EXECUTION)

    gpu_units = sum(
        next(t.compute_units for name in GPU_PRODUCTS for t in TABLE.product(name).tiers
             if t.model == TABLE.gpu_models[g["device_id"]])
        for g in params["gpus"])
    def resource_units(instance_params_):
        memory_mib = TABLE.product("instance_gpu_premium").compute_unit.memory_mib
        return max(instance_params_["vcpus"], -(-instance_params_["memory"] // memory_mib))

    assert execution_units(base) == max(gpu_units, resource_units(params))
    assert execution_units(more) >= execution_units(base)
    for column in COLUMNS:
        assert _execution(more, column) >= _execution(base, column)
    assert more.hold_total >= base.hold_total


@PROPERTY_SETTINGS
@given(instance_params(), st.integers(min_value=1, max_value=100_000))
def test_a_larger_rootfs_never_costs_less(params, extra_mib):
    larger = {**params, "rootfs_size_mib": params["rootfs_size_mib"] + extra_mib}

    small = price("INSTANCE", instance_content(**params))
    large = price("INSTANCE", instance_content(**larger))

    for column in COLUMNS:
        assert _total(large, column) >= _total(small, column)


@PROPERTY_SETTINGS
@given(st.sampled_from(["INSTANCE", "PROGRAM"]), st.data(),
       st.integers(min_value=1, max_value=200_000), st.integers(min_value=1, max_value=100_000))
def test_a_larger_volume_never_costs_less(message_type, data, size_mib, extra_mib):
    params = data.draw(instance_params() if message_type == "INSTANCE" else program_params())
    build = instance_content if message_type == "INSTANCE" else program_content
    small_volume = data.draw(st.sampled_from([
        persistent_volume(size_mib, mount="/grow"),
        immutable_volume(estimated_size_mib=size_mib, mount="/grow")]))
    large_volume = dict(small_volume)
    key = "size_mib" if "size_mib" in small_volume else "estimated_size_mib"
    large_volume[key] = size_mib + extra_mib

    small = price(message_type, build(**{**params, "volumes": [*params["volumes"], small_volume]}))
    large = price(message_type, build(**{**params, "volumes": [*params["volumes"], large_volume]}))

    for column in COLUMNS:
        assert _total(large, column) >= _total(small, column)


@PROPERTY_SETTINGS
@given(store_params, st.integers(min_value=1, max_value=1024 ** 3))
def test_a_larger_store_never_costs_less_and_credit_pays_at_least_25_mib(params, extra_bytes):
    small = price("STORE", store_content(**params))
    large = price("STORE", store_content(**{**params, "size": params["size"] + extra_bytes}))

    for column in COLUMNS:
        assert _total(large, column) >= _total(small, column)
    if params["payment"] == "credit":
        assert small.rows[0].size_mib >= 25
        assert small.credit_per_second >= _floor18(25 * TABLE.product("storage").storage
                                                   .credit_per_second)
