"""Golden numbers for the cost engine: the worked examples of PRICING.md and cases derived by hand.

Every expected value below is derived from the rules of PRICING.md in the comments, never copied
from the engine's output. Arithmetic is Python decimal at precision 28: an hourly price is divided
by 3600 first (28 significant digits), then multiplied by the CU count or the MiB size (rounded
again to 28 digits), then each column of each row is floored to 18 decimals.

Per-second rates of the default pricing (price / 3600 at precision 28):
  instance CU           payg 0.055      -> 0.00001527777777777777777777777778
                        credit 14250    -> 3.958333333333333333333333333
  confidential CU       payg 0.11       -> 0.00003055555555555555555555555556
                        credit 28500    -> 7.916666666666666666666666667
  program CU            payg 0.011      -> 0.000003055555555555555555555555556
                        credit 11000    -> 3.055555555555555555555555556
  program_persistent CU payg 0.055 (as instance), credit 55000 -> 15.27777777777777777777777778
  GPU standard CU       payg 0.28       -> 0.00007777777777777777777777777778
                        credit 43125    -> 11.97916666666666666666666667
  GPU premium CU        payg 0.56       -> 0.0001555555555555555555555555556
                        credit 86250    -> 23.95833333333333333333333333
  storage MiB           payg 0.000000977 -> 2.713888888888888888888888889E-10 (all VM products)
                        credit 0.17967489030626108 -> 0.00004990969175173918888888888889
                        program credit 0.977 -> 0.0002713888888888888888888888889
  credit floor          floor18(1 / 3600) = 0.000277777777777777
"""
from decimal import ROUND_FLOOR, Decimal, localcontext

import pytest

from pricing.aggregate import table_from_aggregate
from pricing.content import parse_content
from pricing.costs import (
    MIN_CREDIT_COST_PER_SECOND,
    amount_for_seconds,
    compute_costs,
    format_amount,
    rate_per_second,
)
from pricing.defaults import DEFAULT_COMPATIBLE_GPUS, DEFAULT_PRICE_AGGREGATE
from pricing.enums import CostRowType
from tests.pricing.contents import (
    CODE_REF,
    DATA_REF,
    OTHER_STORE_REF,
    ROOTFS_REF,
    RUNTIME_REF,
    STORE_REF,
    ephemeral_volume,
    gpu,
    immutable_volume,
    instance_content,
    persistent_volume,
    program_content,
    store_content,
)

EXECUTION = CostRowType.EXECUTION.value
ROOTFS = CostRowType.EXECUTION_INSTANCE_VOLUME_ROOTFS.value
CODE = CostRowType.EXECUTION_PROGRAM_VOLUME_CODE.value
RUNTIME = CostRowType.EXECUTION_PROGRAM_VOLUME_RUNTIME.value
DATA = CostRowType.EXECUTION_PROGRAM_VOLUME_DATA.value
IMMUTABLE = CostRowType.EXECUTION_VOLUME_INMUTABLE.value
PERSISTENT = CostRowType.EXECUTION_VOLUME_PERSISTENT.value
DISCOUNT = CostRowType.EXECUTION_VOLUME_DISCOUNT.value
STORAGE = CostRowType.STORAGE.value

A100 = "10de:20b5"
H100 = "10de:2330"
RTX_4090 = "10de:2684"
RTX_3090 = "10de:2204"
RTX_4000_ADA = "10de:27b2"


# --- helpers -----------------------------------------------------------------------------------

def _exact(value) -> str:
    """The value as text, after checking it is a Decimal with exactly 18 decimal places."""
    assert isinstance(value, Decimal), f"{value!r} is not a Decimal"
    assert value.as_tuple().exponent == -18, f"{value!r} does not have 18 decimal places"
    return f"{value:.18f}"


def rows_of(breakdown) -> list[tuple]:
    """(type, name, ref, hold, stream per second, credit per second) of every row, in order."""
    return [(row.type, row.name, row.ref, _exact(row.cost_hold),
             _exact(row.cost_stream_per_second), _exact(row.cost_credit_per_second))
            for row in breakdown.rows]


def totals_of(breakdown) -> tuple[str, str, str]:
    """(hold, stream per second, credit per second) totals."""
    return (_exact(breakdown.hold_total), _exact(breakdown.stream_per_second),
            _exact(breakdown.credit_per_second))


def costs(message_type, content, table, *, estimate=True, **kwargs):
    return compute_costs(parse_content(message_type, content, estimate=estimate), table, **kwargs)


def _table_with(changes: dict):
    """The default table with some products' aggregate entries replaced."""
    aggregate = {**DEFAULT_PRICE_AGGREGATE, **changes}
    return table_from_aggregate(aggregate, DEFAULT_COMPATIBLE_GPUS, version_id=99)


# --- worked examples of PRICING.md ---------------------------------------------------------------

def test_worked_example_e1_has_the_documented_rows_in_every_column(default_table):
    # given E1: instance, 1 vCPU, 2048 MiB, rootfs 20480 MiB, internet on, no volumes, hold
    content = instance_content(vcpus=1, memory=2048, rootfs_size_mib=20480, internet=True)

    # when
    breakdown = costs("INSTANCE", content, default_table)

    # then
    assert breakdown.product_type == "instance"
    assert breakdown.payment_type == "hold"
    assert breakdown.pricing_version_id == 1
    assert rows_of(breakdown) == [
        (EXECUTION, "instance", None,
         "1000.000000000000000000", "0.000015277777777777", "3.958333333333333333"),
        (ROOTFS, ROOTFS, ROOTFS_REF,
         "1024.000000000000000000", "0.000005558044444444", "1.022150487075618588"),
        (DISCOUNT, DISCOUNT, None,
         "-1024.000000000000000000", "-0.000005558044444444", "-1.022150487075618588"),
    ]


def test_worked_example_e1_totals_are_the_execution_row_alone(default_table):
    breakdown = costs("INSTANCE", instance_content(), default_table)

    assert totals_of(breakdown) == (
        "1000.000000000000000000", "0.000015277777777777", "3.958333333333333333")
    assert breakdown.total == Decimal("1000")


def test_worked_example_e1_one_day_of_credit_is_341999_point_9999999999999999712(default_table):
    breakdown = costs("INSTANCE", instance_content(payment="credit"), default_table)

    one_day = amount_for_seconds(breakdown.total, 86400)

    # 3.958333333333333333 × 86400 = 341999.9999999999999712 (exact: 22 significant digits)
    assert breakdown.total == Decimal("3.958333333333333333")
    assert one_day == Decimal("341999.9999999999999712")
    assert str(one_day) == "341999.999999999999971200"


@pytest.mark.parametrize("payment, column", [
    ("hold", "1000.000000000000000000"),
    ("superfluid", "0.000015277777777777"),
    ("credit", "3.958333333333333333"),
])
def test_e1_total_is_the_column_of_its_payment_type(default_table, payment, column):
    # E1's rows are all above the credit floor, so the rows do not depend on the payment type.
    breakdown = costs("INSTANCE", instance_content(payment=payment), default_table)

    assert breakdown.payment_type == payment
    assert _exact(breakdown.total) == column
    assert rows_of(breakdown)[0][3:] == (
        "1000.000000000000000000", "0.000015277777777777", "3.958333333333333333")


def test_worked_example_g1_gpu_rtx_4090_with_8_vcpus_holds_2240(default_table):
    # given G1: one RTX 4090 (standard tier-3, 6 CU), 8 vCPU, 16384 MiB, hold
    content = instance_content(gpus=[gpu(RTX_4090)], vcpus=8, memory=16384)

    breakdown = costs("INSTANCE", content, default_table)

    # resource CUs (GPU CU of 6144 MiB) = max(8, ceil(16384 / 6144) = 3) = 8 > 6 GPU CUs,
    # so the standard bucket is 8 CU: hold 8 × 280 = 2240
    #   stream 8 × 0.00007777777777777777777777777778 = 0.0006222222222222222222222222222
    #   credit 8 × 11.97916666666666666666666667 = 95.83333333333333333333333336
    # rootfs 20480 MiB at the premium storage prices (hold 0), allowance 8 × 61440 covers it.
    assert breakdown.product_type == "instance_gpu_standard"
    assert rows_of(breakdown) == [
        (EXECUTION, "instance_gpu_standard", None,
         "2240.000000000000000000", "0.000622222222222222", "95.833333333333333333"),
        (ROOTFS, ROOTFS, ROOTFS_REF,
         "0.000000000000000000", "0.000005558044444444", "1.022150487075618588"),
        (DISCOUNT, DISCOUNT, None,
         "0.000000000000000000", "-0.000005558044444444", "-1.022150487075618588"),
    ]
    assert breakdown.total == Decimal("2240")


def test_worked_example_e6_program_with_internet_and_five_volumes_holds_630_4(default_table):
    # given E6: on-demand program, internet, 1 vCPU, 128 MiB, code 2048, runtime 1024, data 2048,
    # an immutable volume of 512 MiB (estimated) and a persistent volume of 1024 MiB, hold
    content = program_content(
        internet=True, vcpus=1, memory=128,
        code_size_mib=2048, runtime_size_mib=1024, data_size_mib=2048,
        volumes=[immutable_volume(STORE_REF, mount="/opt/venv", estimated_size_mib=512),
                 persistent_volume(1024, mount="/var/cache")])

    breakdown = costs("PROGRAM", content, default_table)

    # n = max(1, ceil(128 / 2048)) = 1, m = 2: hold 2 × 200 = 400
    #   stream 2 × 0.000003055555555555555555555555556, credit 2 × 3.055555555555555555555555556
    # volumes 6656 MiB: hold × 0.05; stream × 2.7138...E-10; credit × 0.00027138...(program)
    #   2048 MiB: 102.4, 5.558044444444...E-7 -> 0.000000555804444444, 0.55580444444444...
    # allowance 1 × 2048 MiB: discount hold -min(332.8, 102.4) = -102.4; stream/credit caps are
    # 2048 × rate, unfloored (...4444445 at precision 28), so they floor away from zero.
    assert breakdown.product_type == "program"
    assert rows_of(breakdown) == [
        (EXECUTION, "program", None,
         "400.000000000000000000", "0.000006111111111111", "6.111111111111111111"),
        (CODE, CODE, CODE_REF,
         "102.400000000000000000", "0.000000555804444444", "0.555804444444444444"),
        (RUNTIME, RUNTIME, RUNTIME_REF,
         "51.200000000000000000", "0.000000277902222222", "0.277902222222222222"),
        (DATA, DATA, DATA_REF,
         "102.400000000000000000", "0.000000555804444444", "0.555804444444444444"),
        (IMMUTABLE, "#0:/opt/venv", STORE_REF,
         "25.600000000000000000", "0.000000138951111111", "0.138951111111111111"),
        (PERSISTENT, "#1:/var/cache", None,
         "51.200000000000000000", "0.000000277902222222", "0.277902222222222222"),
        (DISCOUNT, DISCOUNT, None,
         "-102.400000000000000000", "-0.000000555804444445", "-0.555804444444444445"),
    ]
    # hold: 400 + 332.8 - 102.4 = 630.4
    assert totals_of(breakdown) == (
        "630.400000000000000000", "0.000007361671111109", "7.361671111111111109")


# --- instances ---------------------------------------------------------------------------------

def test_confidential_instance_is_priced_as_instance_confidential(default_table):
    # given 2 vCPU, 4096 MiB (n = 2), rootfs 40960 MiB = the allowance 2 × 20480, hold
    content = instance_content(confidential=True, vcpus=2, memory=4096, rootfs_size_mib=40960)

    breakdown = costs("INSTANCE", content, default_table)

    # execution: hold 2 × 2000 = 4000
    #   stream 2 × 0.00003055555555555555555555555556 = 0.00006111111111111111111111111112
    #   credit 2 × 7.916666666666666666666666667 = 15.83333333333333333333333333
    # rootfs 40960: hold 2048; stream 40960 × 2.7138...E-10 = 0.00001111608888888888888888889
    #   credit 40960 × 0.0000499096917517391888... = 2.044300974151237176888888889
    # discount: the sums are below the caps (they are the floored values), so exact negatives.
    assert breakdown.product_type == "instance_confidential"
    assert rows_of(breakdown) == [
        (EXECUTION, "instance_confidential", None,
         "4000.000000000000000000", "0.000061111111111111", "15.833333333333333333"),
        (ROOTFS, ROOTFS, ROOTFS_REF,
         "2048.000000000000000000", "0.000011116088888888", "2.044300974151237176"),
        (DISCOUNT, DISCOUNT, None,
         "-2048.000000000000000000", "-0.000011116088888888", "-2.044300974151237176"),
    ]
    assert breakdown.total == Decimal("4000")


def test_credit_floor_raises_small_volume_rows_to_one_credit_per_hour(default_table):
    # given credit payment, E1 plus volumes of 1 MiB (mounted), 5 MiB (ephemeral, no mount) and
    # 6 MiB (mounted)
    content = instance_content(payment="credit", volumes=[
        persistent_volume(1, mount="/data"), ephemeral_volume(5),
        persistent_volume(6, mount="/logs")])

    breakdown = costs("INSTANCE", content, default_table)

    # credit per volume: 1 MiB × 0.0000499096917517391888... -> 0.000049909691751739 < floor
    #   -> 0.000277777777777777; 5 MiB -> 0.000249548458758695 < floor -> 0.000277777777777777;
    #   6 MiB -> 0.000299458150510435 > floor, kept.
    # stream: 1 -> 2.713888888...E-10 -> 0.000000000271388888; 5 -> 0.000000001356944444;
    #   6 -> 1.6283333333...E-9 -> 0.000000001628333333. hold: 0.05, 0.25, 0.3.
    # discount, allowance 20480 MiB, each column: sum of rows exceeds the cap, so the cap
    #   hold 20480 × 0.05 = 1024
    #   stream 20480 × 2.7138...E-10 = 0.000005558044444444444444444445 -> floor(-x) ...445
    #   credit 20480 × 0.0000499096917517391888... = 1.022150487075618588444444444 -> ...589
    assert rows_of(breakdown) == [
        (EXECUTION, "instance", None,
         "1000.000000000000000000", "0.000015277777777777", "3.958333333333333333"),
        (ROOTFS, ROOTFS, ROOTFS_REF,
         "1024.000000000000000000", "0.000005558044444444", "1.022150487075618588"),
        (PERSISTENT, "#0:/data", None,
         "0.050000000000000000", "0.000000000271388888", "0.000277777777777777"),
        (PERSISTENT, f"#1:{PERSISTENT}", None,
         "0.250000000000000000", "0.000000001356944444", "0.000277777777777777"),
        (PERSISTENT, "#2:/logs", None,
         "0.300000000000000000", "0.000000001628333333", "0.000299458150510435"),
        (DISCOUNT, DISCOUNT, None,
         "-1024.000000000000000000", "-0.000005558044444445", "-1.022150487075618589"),
    ]
    # credit: 3.958333333333333333 + 1.022150487075618588 + 2 × 0.000277777777777777
    #   + 0.000299458150510435 - 1.022150487075618589 = 3.959188347039399321
    assert breakdown.total == Decimal("3.959188347039399321")
    assert totals_of(breakdown) == (
        "1000.600000000000000000", "0.000015281034444441", "3.959188347039399321")


def test_credit_floor_does_not_apply_to_a_hold_payment(default_table):
    content = instance_content(payment="hold", volumes=[
        persistent_volume(1, mount="/data"), ephemeral_volume(5)])

    breakdown = costs("INSTANCE", content, default_table)

    # the raw floored credit values of 1 and 5 MiB (see the credit-floor test above)
    assert [row[5] for row in rows_of(breakdown)[2:4]] == [
        "0.000049909691751739", "0.000249548458758695"]


def test_credit_floor_also_raises_a_cheap_execution_row(default_table):
    # given a pricing where an instance CU costs 0.0036 credit per hour
    cheap = {"instance": {**DEFAULT_PRICE_AGGREGATE["instance"], "price": {
        **DEFAULT_PRICE_AGGREGATE["instance"]["price"],
        "compute_unit": {"payg": "0.055", "holding": "1000", "credit": "0.0036"}}}}
    table = _table_with(cheap)

    breakdown = costs("INSTANCE", instance_content(payment="credit"), table)

    # 1 × 0.0036 / 3600 = 0.000001 < 1 / 3600 -> the floor 0.000277777777777777
    execution = breakdown.rows[0]
    assert execution.type == EXECUTION
    assert _exact(execution.cost_credit_per_second) == "0.000277777777777777"
    assert execution.cost_credit_per_second == MIN_CREDIT_COST_PER_SECOND


@pytest.mark.parametrize("vcpus, memory, compute_units", [
    (1, 2048, 1),
    (1, 2049, 2),   # ceil(2049 / 2048) = 2
    (1, 4097, 3),   # ceil(4097 / 2048) = 3
    (4, 1024, 4),   # vCPUs dominate
    (2, 8192, 4),   # memory dominates
    (3, 6144, 3),   # equal
])
def test_instance_compute_units_are_the_larger_of_vcpus_and_memory_units(
        default_table, vcpus, memory, compute_units):
    breakdown = costs("INSTANCE", instance_content(vcpus=vcpus, memory=memory), default_table)

    assert breakdown.rows[0].cost_hold == compute_units * Decimal(1000)


def test_memory_driven_compute_units_price_three_units_at_precision_28(default_table):
    # given 1 vCPU and 4097 MiB: n = max(1, ceil(4097 / 2048)) = 3
    breakdown = costs("INSTANCE", instance_content(vcpus=1, memory=4097), default_table)

    # hold 3 × 1000
    # stream 3 × 0.00001527777777777777777777777778 = 0.00004583333333333333333333333334
    # credit 3 × 3.958333333333333333333333333 = 11.874999999999999999999999999 has 29 digits:
    #   at precision 28 it rounds (half even) to 11.87500000000000000000000000 -> 11.875 exactly,
    #   where flooring the per-second rate first would give 3 × 3.958333333333333333 = ...999.
    # allowance 3 × 20480 covers the 20480 MiB rootfs.
    assert rows_of(breakdown) == [
        (EXECUTION, "instance", None,
         "3000.000000000000000000", "0.000045833333333333", "11.875000000000000000"),
        (ROOTFS, ROOTFS, ROOTFS_REF,
         "1024.000000000000000000", "0.000005558044444444", "1.022150487075618588"),
        (DISCOUNT, DISCOUNT, None,
         "-1024.000000000000000000", "-0.000005558044444444", "-1.022150487075618588"),
    ]


def test_rootfs_beyond_the_allowance_is_paid_and_the_discount_is_capped(default_table):
    # given 1 vCPU (allowance 20480 MiB) and a 30720 MiB rootfs
    breakdown = costs("INSTANCE", instance_content(rootfs_size_mib=30720), default_table)

    # rootfs: hold 30720 × 0.05 = 1536
    #   stream 30720 × 2.713888888888888888888888889E-10 = 0.000008337066666666666666666667
    #   credit 30720 × 0.0000499096917517391888... = 1.533225730613427882666666667
    # discount = -(allowance × rate): hold -1024; stream -0.000005558044444444444444444445 and
    #   credit -1.022150487075618588444444444 floored toward minus infinity: ...445 and ...589
    assert rows_of(breakdown) == [
        (EXECUTION, "instance", None,
         "1000.000000000000000000", "0.000015277777777777", "3.958333333333333333"),
        (ROOTFS, ROOTFS, ROOTFS_REF,
         "1536.000000000000000000", "0.000008337066666666", "1.533225730613427882"),
        (DISCOUNT, DISCOUNT, None,
         "-1024.000000000000000000", "-0.000005558044444445", "-1.022150487075618589"),
    ]
    # hold 1000 + 1536 - 1024 = 1512 (the 10240 MiB beyond the allowance: 10240 × 0.05 = 512)
    # stream 0.000015277777777777 + 0.000008337066666666 - 0.000005558044444445
    assert totals_of(breakdown) == (
        "1512.000000000000000000", "0.000018056799999998", "4.469408576871142626")


def test_negative_discount_rounds_away_from_zero_where_truncation_would_not(default_table):
    # The stream cap 20480 × 2.713888888888888888888888889E-10 = 0.000005558044444444444444444445
    # floored as a negative is -0.000005558044444445; truncating (ROUND_DOWN) would give ...444,
    # which is the rootfs row of E1: the two differ by one unit of the 18th decimal.
    small = costs("INSTANCE", instance_content(rootfs_size_mib=20480), default_table)
    large = costs("INSTANCE", instance_content(rootfs_size_mib=20481), default_table)

    # within the allowance the discount is the exact negative of the (floored) rootfs row
    assert small.rows[-1].cost_stream_per_second == Decimal("-0.000005558044444444")
    # one MiB beyond, the sum exceeds the cap and the cap is floored away from zero
    assert large.rows[-1].cost_stream_per_second == Decimal("-0.000005558044444445")
    assert large.rows[-1].cost_credit_per_second == Decimal("-1.022150487075618589")


def test_volumes_are_named_by_index_and_mount_or_row_type_with_their_refs(default_table):
    # given 2 vCPU (allowance 40960 MiB): an immutable volume sized by a registered STORE (300 MiB),
    # an ephemeral volume without mount (100), a persistent mounted volume (2000) and an immutable
    # volume without mount sized by its estimate (50)
    content = instance_content(vcpus=2, memory=2048, volumes=[
        immutable_volume(STORE_REF, mount="/opt/models"),
        ephemeral_volume(100),
        persistent_volume(2000, mount="/var/lib/postgresql"),
        immutable_volume(OTHER_STORE_REF, estimated_size_mib=50),
    ])

    breakdown = costs("INSTANCE", content, default_table, ref_sizes_mib={STORE_REF: Decimal(300)})

    # execution n = 2: 2000; 2 × 0.0000152777... -> 0.000030555555555555;
    #   2 × 3.958333333333333333333333333 = 7.916666666666666666666666666
    # 300 MiB: 15; 300 × 2.7138...E-10 = 8.141666666666666666666666667E-8;
    #   300 × 0.0000499096917517391888... = 0.01497290752552175666666666667
    # 100 MiB: 5; 2.713888888888888888888888889E-8; 0.004990969175173918888888888889
    # 2000 MiB: 100; 5.427777777777777777777777778E-7; 0.09981938350347837777777777778
    # 50 MiB: 2.5; 1.356944444444444444444444445E-8; 0.002495484587586959444444444445
    # volumes total 22930 MiB < 40960: the discount is the exact negative of each column's sum.
    assert rows_of(breakdown) == [
        (EXECUTION, "instance", None,
         "2000.000000000000000000", "0.000030555555555555", "7.916666666666666666"),
        (ROOTFS, ROOTFS, ROOTFS_REF,
         "1024.000000000000000000", "0.000005558044444444", "1.022150487075618588"),
        (IMMUTABLE, "#0:/opt/models", STORE_REF,
         "15.000000000000000000", "0.000000081416666666", "0.014972907525521756"),
        (PERSISTENT, f"#1:{PERSISTENT}", None,
         "5.000000000000000000", "0.000000027138888888", "0.004990969175173918"),
        (PERSISTENT, "#2:/var/lib/postgresql", None,
         "100.000000000000000000", "0.000000542777777777", "0.099819383503478377"),
        (IMMUTABLE, f"#3:{IMMUTABLE}", OTHER_STORE_REF,
         "2.500000000000000000", "0.000000013569444444", "0.002495484587586959"),
        (DISCOUNT, DISCOUNT, None,
         "-1146.500000000000000000", "-0.000006222947222219", "-1.144429231867379598"),
    ]
    assert breakdown.total == Decimal("2000")


def test_volumes_beyond_a_one_unit_allowance_are_paid(default_table):
    # the same volumes with 1 vCPU: 22930 MiB against an allowance of 20480 MiB
    content = instance_content(vcpus=1, volumes=[
        immutable_volume(STORE_REF, mount="/opt/models"), ephemeral_volume(100),
        persistent_volume(2000, mount="/var/lib/postgresql"),
        immutable_volume(OTHER_STORE_REF, estimated_size_mib=50)])

    breakdown = costs("INSTANCE", content, default_table, ref_sizes_mib={STORE_REF: Decimal(300)})

    # hold 1000 + 1146.5 - 1024 = 1122.5
    # stream 0.000015277777777777 + (0.000005558044444444 + 0.000000081416666666
    #   + 0.000000027138888888 + 0.000000542777777777 + 0.000000013569444444) - 0.000005558044444445
    # credit 3.958333333333333333 + 1.144429231867379598 - 1.022150487075618589
    assert rows_of(breakdown)[-1] == (
        DISCOUNT, DISCOUNT, None,
        "-1024.000000000000000000", "-0.000005558044444445", "-1.022150487075618589")
    assert totals_of(breakdown) == (
        "1122.500000000000000000", "0.000015942680555551", "4.080612078125094342")


def test_immutable_volume_costs_the_same_sized_by_registered_store_or_by_estimate(default_table):
    registered = costs("INSTANCE", instance_content(
        volumes=[immutable_volume(STORE_REF, mount="/models")]), default_table,
        estimate=False, ref_sizes_mib={STORE_REF: Decimal(512)})
    estimated = costs("INSTANCE", instance_content(
        volumes=[immutable_volume(STORE_REF, mount="/models", estimated_size_mib=512)]),
        default_table)

    # 512 MiB: hold 25.6; stream 512 × 2.7138...E-10 = 1.389511111111111111111111111E-7;
    #   credit 512 × 0.0000499096917517391888... = 0.02555376217689046471111111111
    expected = (IMMUTABLE, "#0:/models", STORE_REF,
                "25.600000000000000000", "0.000000138951111111", "0.025553762176890464")
    assert rows_of(registered)[2] == expected
    assert rows_of(estimated)[2] == expected
    assert registered.rows[2].size_mib == estimated.rows[2].size_mib == Decimal(512)


def test_an_estimated_size_is_used_even_when_the_store_is_registered(default_table):
    # Reading tested: in an estimate, `estimated_size_mib` wins over the registered size (the
    # network's estimate builds a sized volume whenever the estimate is given).
    content = instance_content(
        volumes=[immutable_volume(STORE_REF, mount="/models", estimated_size_mib=512)])

    breakdown = costs("INSTANCE", content, default_table,
                      ref_sizes_mib={STORE_REF: Decimal(1000)})

    assert breakdown.rows[2].size_mib == Decimal(512)
    assert _exact(breakdown.rows[2].cost_hold) == "25.600000000000000000"


# --- programs ----------------------------------------------------------------------------------

def test_persistent_program_is_priced_as_program_persistent_without_multiplier(default_table):
    # given a persistent program with internet, 2 vCPU (n = 2), code 10 MiB, runtime 200 MiB
    content = program_content(persistent=True, internet=True, vcpus=2, memory=2048,
                              code_size_mib=10, runtime_size_mib=200)

    breakdown = costs("PROGRAM", content, default_table)

    # m = 1 (persistent): hold 2 × 1000 = 2000; stream 2 × 0.0000152777... -> 0.000030555555555555
    #   credit 2 × 15.27777777777777777777777778 = 30.55555555555555555555555556
    # code 10 MiB: 0.5; 2.713888888888888888888888889E-9; 10 × 0.00027138... = 0.002713888888...
    # runtime 200 MiB: 10; 5.427777777777777777777777778E-8; 0.05427777777777777777777777778
    # allowance 2 × 20480 MiB covers 210 MiB: exact negatives of the sums.
    assert breakdown.product_type == "program_persistent"
    assert rows_of(breakdown) == [
        (EXECUTION, "program_persistent", None,
         "2000.000000000000000000", "0.000030555555555555", "30.555555555555555555"),
        (CODE, CODE, CODE_REF,
         "0.500000000000000000", "0.000000002713888888", "0.002713888888888888"),
        (RUNTIME, RUNTIME, RUNTIME_REF,
         "10.000000000000000000", "0.000000054277777777", "0.054277777777777777"),
        (DISCOUNT, DISCOUNT, None,
         "-10.500000000000000000", "-0.000000056991666665", "-0.056991666666666665"),
    ]
    assert breakdown.total == Decimal("2000")


def test_on_demand_program_without_internet_has_multiplier_one(default_table):
    content = program_content(internet=False, vcpus=1, memory=128,
                              code_size_mib=5, runtime_size_mib=100)

    breakdown = costs("PROGRAM", content, default_table)

    # n = 1, m = 1: hold 200; stream 0.000003055555555555555555555555556; credit
    #   3.055555555555555555555555556. code 5 MiB: 0.25; 1.356944444444444444444444445E-9;
    #   5 × 0.00027138... = 0.001356944444444444444444444445. runtime 100 MiB: 5;
    #   2.713888888888888888888888889E-8; 0.02713888888888888888888888889.
    # allowance 1 × 2048 MiB covers 105 MiB.
    assert breakdown.product_type == "program"
    assert rows_of(breakdown) == [
        (EXECUTION, "program", None,
         "200.000000000000000000", "0.000003055555555555", "3.055555555555555555"),
        (CODE, CODE, CODE_REF,
         "0.250000000000000000", "0.000000001356944444", "0.001356944444444444"),
        (RUNTIME, RUNTIME, RUNTIME_REF,
         "5.000000000000000000", "0.000000027138888888", "0.027138888888888888"),
        (DISCOUNT, DISCOUNT, None,
         "-5.250000000000000000", "-0.000000028495833332", "-0.028495833333333332"),
    ]
    assert totals_of(breakdown) == (
        "200.000000000000000000", "0.000003055555555555", "3.055555555555555555")


def test_on_demand_program_with_internet_has_multiplier_two(default_table):
    content = program_content(internet=True, vcpus=1, memory=128,
                              code_size_mib=5, runtime_size_mib=100)

    breakdown = costs("PROGRAM", content, default_table)

    # n × m = 2, multiplied before flooring: stream 2 × 0.000003055555555555555555555555556 =
    #   0.000006111111111111111111111111112 -> 0.000006111111111111 (2 × the floored rate would be
    #   ...110); credit 2 × 3.055555555555555555555555556 -> 6.111111111111111111 (not ...110).
    # The allowance stays 1 × 2048 MiB (no multiplier): the volume rows are unchanged.
    assert rows_of(breakdown)[0] == (
        EXECUTION, "program", None,
        "400.000000000000000000", "0.000006111111111111", "6.111111111111111111")
    assert rows_of(breakdown)[-1] == (
        DISCOUNT, DISCOUNT, None,
        "-5.250000000000000000", "-0.000000028495833332", "-0.028495833333333332")
    assert totals_of(breakdown) == (
        "400.000000000000000000", "0.000006111111111111", "6.111111111111111111")


def test_registered_program_takes_code_runtime_and_data_sizes_from_known_stores(default_table):
    content = program_content(internet=True, with_data=True)
    ref_sizes = {CODE_REF: Decimal(5), RUNTIME_REF: Decimal(100), DATA_REF: Decimal("0.5")}

    breakdown = costs("PROGRAM", content, default_table, estimate=False, ref_sizes_mib=ref_sizes)

    # data 0.5 MiB: hold 0.025; stream 0.5 × 2.7138...E-10 = 1.356944444444444444444444445E-10
    #   credit 0.5 × 0.0002713888888888888888888888889 = 0.0001356944444444444444444444445
    # discount = -(sum): hold -5.275; stream -(0.000000001356944444 + 0.000000027138888888
    #   + 0.000000000135694444); credit -(0.001356944444444444 + 0.027138888888888888
    #   + 0.000135694444444444)
    assert rows_of(breakdown) == [
        (EXECUTION, "program", None,
         "400.000000000000000000", "0.000006111111111111", "6.111111111111111111"),
        (CODE, CODE, CODE_REF,
         "0.250000000000000000", "0.000000001356944444", "0.001356944444444444"),
        (RUNTIME, RUNTIME, RUNTIME_REF,
         "5.000000000000000000", "0.000000027138888888", "0.027138888888888888"),
        (DATA, DATA, DATA_REF,
         "0.025000000000000000", "0.000000000135694444", "0.000135694444444444"),
        (DISCOUNT, DISCOUNT, None,
         "-5.275000000000000000", "-0.000000028631527776", "-0.028631527777777776"),
    ]


def test_program_volume_rows_have_the_credit_floor_under_credit_payment(default_table):
    # program storage credit is 0.977 / h per MiB: 1 MiB -> 0.0002713888... < 1 / 3600
    content = program_content(payment="credit", code_size_mib=1, runtime_size_mib=6)

    breakdown = costs("PROGRAM", content, default_table)

    # code 1 MiB raised to 0.000277777777777777; runtime 6 MiB: 0.001628333333333333 kept
    assert [_exact(row.cost_credit_per_second) for row in breakdown.rows[1:3]] == [
        "0.000277777777777777", "0.001628333333333333"]


# --- STORE -------------------------------------------------------------------------------------

@pytest.mark.parametrize("payment, size, estimated, size_mib, hold, credit", [
    # 10 MiB held: 10 × 0.333333333 = 3.33333333; 10 × 0.0000499096917517391888... = ...
    ("hold", None, 10, "10", "3.333333330000000000", "0.000499096917517391"),
    # credit below 25 MiB is raised to 25: 25 × 0.333333333 = 8.333333325;
    #   25 × 0.00004990969175173918888888888889 = 0.001247742293793479722222222222
    ("credit", None, 1, "25", "8.333333325000000000", "0.001247742293793479"),
    # credit above 25 MiB: 100 × ... = 0.004990969175173918888888888889
    ("credit", None, 100, "100", "33.333333300000000000", "0.004990969175173918"),
    # 1 byte = 1 / 1048576 = 0.00000095367431640625 MiB (exact): × 0.333333333 =
    #   0.00000031789143815... -> 0.000000317891438484; credit 4.7597591...E-11, no floor (hold)
    ("hold", 1, None, "0.00000095367431640625", "0.000000317891438484", "0.000000000047597591"),
    # 1572864 bytes = 1.5 MiB: 0.4999999995; 1.5 × 0.0000499096917517391888... = 0.0000748645...
    ("hold", 1_572_864, None, "1.5", "0.499999999500000000", "0.000074864537627608"),
    # 1000000 bytes = 0.95367431640625 MiB: × 0.333333333 = 0.31789143848419189453125... (floored)
    ("hold", 1_000_000, None, "0.95367431640625", "0.317891438484191894",
     "0.000047597591163386"),
    # 1.5 MiB paid by credit is raised to 25 MiB
    ("credit", 1_572_864, None, "25", "8.333333325000000000", "0.001247742293793479"),
    # 30 MiB + 1 byte by credit: 30.00000095367431640625 MiB, above 25, kept exactly
    ("credit", 31_457_281, None, "30.00000095367431640625", "10.000000307891438484",
     "0.001497290800149766"),
])
def test_store_row_is_size_times_storage_prices(default_table, payment, size, estimated,
                                                size_mib, hold, credit):
    content = store_content(size=size, estimated_size_mib=estimated, payment=payment)

    breakdown = costs("STORE", content, default_table)

    assert breakdown.product_type == "storage"
    assert breakdown.payment_type == payment
    assert rows_of(breakdown) == [
        (STORAGE, STORAGE, STORE_REF, hold, "0.000000000000000000", credit)]
    assert breakdown.rows[0].size_mib == Decimal(size_mib)
    assert _exact(breakdown.total) == (credit if payment == "credit" else hold)


def test_store_row_ref_is_the_message_hash_when_given(default_table):
    message_hash = "ab" * 32

    breakdown = costs("STORE", store_content(size=1_048_576), default_table,
                      item_hash=message_hash)

    assert breakdown.rows[0].ref == message_hash
    assert _exact(breakdown.total) == "0.333333333000000000"


# --- GPU instances -----------------------------------------------------------------------------

def test_premium_a100_instance_pays_16_gpu_units_and_storage_beyond_resource_allowance(
        default_table):
    # given one A100 (premium tier-1, 16 CU), 8 vCPU, 32768 MiB, rootfs 524288 MiB (512 GiB)
    content = instance_content(gpus=[gpu(A100)], vcpus=8, memory=32768, rootfs_size_mib=524288)

    breakdown = costs("INSTANCE", content, default_table)

    # resource CUs = max(8, ceil(32768 / 6144) = 6) = 8 < 16: premium bucket 16 CU
    #   hold 16 × 560 = 8960; stream 16 × 0.0001555555555555555555555555556 = 0.00248888...890
    #   credit 16 × 23.95833333333333333333333333 = 383.3333333333333333333333333
    # rootfs at premium storage: hold 0; stream 524288 × 2.7138...E-10 = 0.0001422859377777...
    #   credit 524288 × 0.0000499096917517391888... = 26.16705246913583586...
    # allowance = resource CUs 8 × 61440 = 491520 MiB (not 16 × 61440, which would cover it all):
    #   stream cap 491520 × 2.7138...E-10 = 0.0001333930666666666666666667 -> -...667
    #   credit cap 491520 × 0.0000499096917517391888... = 24.53161168981484612266... -> -...123
    assert breakdown.product_type == "instance_gpu_premium"
    assert rows_of(breakdown) == [
        (EXECUTION, "instance_gpu_premium", None,
         "8960.000000000000000000", "0.002488888888888888", "383.333333333333333333"),
        (ROOTFS, ROOTFS, ROOTFS_REF,
         "0.000000000000000000", "0.000142285937777777", "26.167052469135835864"),
        (DISCOUNT, DISCOUNT, None,
         "0.000000000000000000", "-0.000133393066666667", "-24.531611689814846123"),
    ]
    assert totals_of(breakdown) == (
        "8960.000000000000000000", "0.002497781759999998", "384.968774112654323074")


def test_mixed_premium_and_standard_gpus_give_one_execution_row_per_tier(default_table):
    # given an RTX 4000 ADA (standard, 3 CU) listed before an H100 (premium, 24 CU), 4 vCPU
    content = instance_content(gpus=[gpu(RTX_4000_ADA), gpu(H100)], vcpus=4, memory=8192,
                               rootfs_size_mib=102400)

    breakdown = costs("INSTANCE", content, default_table)

    # resource CUs = max(4, ceil(8192 / 6144) = 2) = 4 < 27 GPU CUs: buckets as the GPUs come.
    # standard 3: hold 840; stream 3 × 0.0000777...78 = 0.0002333...3; credit
    #   3 × 11.97916666666666666666666667 = 35.93750000000000000000000001
    # premium 24: hold 13440; stream 24 × 0.000155...56 = 0.003733...334; credit
    #   24 × 23.95833333333333333333333333 = 574.9999999999999999999999999 -> ...999
    # rootfs 102400 at premium storage (hold 0): 0.0000277902222...; 5.1107524353780929422...
    # allowance 4 × 61440 = 245760 MiB covers it: exact negatives.
    assert breakdown.product_type == "instance_gpu_premium"
    assert rows_of(breakdown) == [
        (EXECUTION, "instance_gpu_standard", None,
         "840.000000000000000000", "0.000233333333333333", "35.937500000000000000"),
        (EXECUTION, "instance_gpu_premium", None,
         "13440.000000000000000000", "0.003733333333333333", "574.999999999999999999"),
        (ROOTFS, ROOTFS, ROOTFS_REF,
         "0.000000000000000000", "0.000027790222222222", "5.110752435378092942"),
        (DISCOUNT, DISCOUNT, None,
         "0.000000000000000000", "-0.000027790222222222", "-5.110752435378092942"),
    ]
    assert totals_of(breakdown) == (
        "14280.000000000000000000", "0.003966666666666666", "610.937499999999999999")


def test_resource_units_beyond_gpu_units_go_to_the_premium_bucket_when_mixed(default_table):
    # given an A100 (premium, 16) and an RTX 4090 (standard, 6) with 32 vCPU: 32 > 22 GPU CUs
    content = instance_content(gpus=[gpu(A100), gpu(RTX_4090)], vcpus=32, memory=8192,
                               rootfs_size_mib=102400)

    breakdown = costs("INSTANCE", content, default_table)

    # premium 16 + (32 - 22) = 26: hold 26 × 560 = 14560; stream 26 × 0.000155...56 =
    #   0.004044444444444444444444444446; credit 26 × 23.958333... = 622.9166666666666666666666666
    # standard 6: hold 1680; stream 0.0004666666666666666666666666667; credit 71.875000...002
    assert rows_of(breakdown)[:2] == [
        (EXECUTION, "instance_gpu_premium", None,
         "14560.000000000000000000", "0.004044444444444444", "622.916666666666666666"),
        (EXECUTION, "instance_gpu_standard", None,
         "1680.000000000000000000", "0.000466666666666666", "71.875000000000000000"),
    ]
    assert breakdown.total == Decimal("16240")


def test_memory_beyond_a_standard_gpu_adds_standard_units(default_table):
    # given an RTX 3090 (4 CU) with 2 vCPU and 30720 MiB: ceil(30720 / 6144) = 5 > 4
    content = instance_content(gpus=[gpu(RTX_3090)], vcpus=2, memory=30720,
                               rootfs_size_mib=61440)

    breakdown = costs("INSTANCE", content, default_table)

    # standard 5: hold 1400; stream 5 × 0.0000777...78 = 0.0003888...889; credit
    #   5 × 11.97916666666666666666666667 = 59.89583333333333333333333335
    # rootfs 61440: stream 0.00001667413333333333333333333; credit 3.066451461226855765...
    assert breakdown.product_type == "instance_gpu_standard"
    assert rows_of(breakdown) == [
        (EXECUTION, "instance_gpu_standard", None,
         "1400.000000000000000000", "0.000388888888888888", "59.895833333333333333"),
        (ROOTFS, ROOTFS, ROOTFS_REF,
         "0.000000000000000000", "0.000016674133333333", "3.066451461226855765"),
        (DISCOUNT, DISCOUNT, None,
         "0.000000000000000000", "-0.000016674133333333", "-3.066451461226855765"),
    ]


def test_gpu_with_trusted_execution_is_priced_by_the_gpu_rules(default_table):
    # given an RTX 4090 and a confidential environment, 2 vCPU, 4096 MiB
    content = instance_content(gpus=[gpu(RTX_4090)], confidential=True, vcpus=2, memory=4096)

    breakdown = costs("INSTANCE", content, default_table)

    # 6 GPU CUs > 2 resource CUs: hold 6 × 280 = 1680 (instance_confidential would be 4000)
    assert breakdown.product_type == "instance_gpu_standard"
    assert rows_of(breakdown)[0] == (
        EXECUTION, "instance_gpu_standard", None,
        "1680.000000000000000000", "0.000466666666666666", "71.875000000000000000")
    assert breakdown.total == Decimal("1680")


def test_gpu_execution_rows_have_no_credit_floor_but_gpu_volume_rows_do():
    # given a pricing where a standard GPU CU costs 0.0036 credit per hour
    standard = DEFAULT_PRICE_AGGREGATE["instance_gpu_standard"]
    table = _table_with({"instance_gpu_standard": {**standard, "price": {
        **standard["price"], "compute_unit": {"payg": "0.28", "holding": "280",
                                              "credit": "0.0036"}}}})
    content = instance_content(gpus=[gpu(RTX_4000_ADA)], payment="credit",
                               volumes=[persistent_volume(1, mount="/data")])

    breakdown = costs("INSTANCE", content, table)

    # execution: 3 CU × 0.0036 / 3600 = 3 × 0.000001 = 0.000003, below the floor and kept
    # volume 1 MiB: 0.000049909691751739 raised to 0.000277777777777777
    # allowance 1 × 61440 MiB: discount = -(1.022150487075618588 + 0.000277777777777777)
    assert rows_of(breakdown) == [
        (EXECUTION, "instance_gpu_standard", None,
         "840.000000000000000000", "0.000233333333333333", "0.000003000000000000"),
        (ROOTFS, ROOTFS, ROOTFS_REF,
         "0.000000000000000000", "0.000005558044444444", "1.022150487075618588"),
        (PERSISTENT, "#0:/data", None,
         "0.000000000000000000", "0.000000000271388888", "0.000277777777777777"),
        (DISCOUNT, DISCOUNT, None,
         "0.000000000000000000", "-0.000005558315833332", "-1.022428264853396365"),
    ]
    assert breakdown.total == Decimal("0.000003")


def test_gpu_resource_units_use_the_dominant_tier_and_the_allowance_the_premium_unit():
    # Reading tested: resource CUs of the execution rows use the dominant tier's CU definition
    # (here standard, changed to 3072 MiB), while the discount allowance counts resource CUs with
    # the premium product's CU (6144 MiB, 61440 MiB of disk), whose storage prices are used.
    standard = DEFAULT_PRICE_AGGREGATE["instance_gpu_standard"]
    table = _table_with({"instance_gpu_standard": {
        **standard, "compute_unit": {"vcpus": 1, "memory_mib": 3072, "disk_mib": 30720}}})
    content = instance_content(gpus=[gpu(RTX_3090)], vcpus=2, memory=15360,
                               rootfs_size_mib=200000)

    breakdown = costs("INSTANCE", content, table)

    # execution: max(2, ceil(15360 / 3072) = 5) = 5 > 4 GPU CUs -> 5 × 280 = 1400
    # allowance: max(2, ceil(15360 / 6144) = 3) × 61440 = 184320 MiB < 200000: hold 0 anyway;
    #   stream cap 184320 × 2.713888888888888888888888889E-10 = 0.00005002240000000000000000000
    assert breakdown.rows[0].cost_hold == Decimal(1400)
    assert _exact(breakdown.rows[-1].cost_stream_per_second) == "-0.000050022400000000"


# --- stream ------------------------------------------------------------------------------------

def test_superfluid_instance_total_is_the_stream_column(default_table):
    # given 2 vCPU, 4096 MiB (n = 2), rootfs 51200 MiB > allowance 40960, paid by stream
    content = instance_content(payment="superfluid", vcpus=2, memory=4096, rootfs_size_mib=51200)

    breakdown = costs("INSTANCE", content, default_table)

    # execution stream 2 × 0.00001527777777777777777777777778 -> 0.000030555555555555
    # rootfs stream 51200 × 2.7138...E-10 = 0.00001389511111111111111111111 -> 0.000013895111111111
    # discount cap 40960 × 2.7138...E-10 = 0.00001111608888888888888888889 -> -0.000011116088888889
    # total 0.000030555555555555 + 0.000013895111111111 - 0.000011116088888889
    assert breakdown.payment_type == "superfluid"
    assert rows_of(breakdown) == [
        (EXECUTION, "instance", None,
         "2000.000000000000000000", "0.000030555555555555", "7.916666666666666666"),
        (ROOTFS, ROOTFS, ROOTFS_REF,
         "2560.000000000000000000", "0.000013895111111111", "2.555376217689046471"),
        (DISCOUNT, DISCOUNT, None,
         "-2048.000000000000000000", "-0.000011116088888889", "-2.044300974151237177"),
    ]
    assert _exact(breakdown.total) == "0.000033334577777777"
    assert totals_of(breakdown) == (
        "2512.000000000000000000", "0.000033334577777777", "8.427741910204475960")


# --- units -------------------------------------------------------------------------------------

def test_rate_per_second_divides_the_hourly_price_at_precision_28():
    assert rate_per_second(Decimal("14250")) == Decimal("3.958333333333333333333333333")
    assert rate_per_second(Decimal("0.17967489030626108")) == Decimal(
        "0.00004990969175173918888888888889")


def test_credit_floor_is_one_credit_per_hour_floored_to_18_decimals():
    assert _exact(MIN_CREDIT_COST_PER_SECOND) == "0.000277777777777777"


def test_format_amount_writes_exactly_18_decimals_floored():
    assert format_amount(Decimal("1000")) == "1000.000000000000000000"
    assert format_amount(Decimal("0.0000055580444444444444444")) == "0.000005558044444444"
    assert format_amount(Decimal("-0.0000055580444444444444444")) == "-0.000005558044444445"


# --- consequences of the rules, kept on purpose --------------------------------------------------

def test_an_extra_instance_unit_can_lower_the_hold_cost_because_its_disk_is_worth_more(
        default_table):
    # An instance CU holds 1000 but includes 20480 MiB worth 20480 × 0.05 = 1024 of storage hold,
    # so when the rootfs exceeds the allowance, one more CU lowers the hold cost by 24.
    one_unit = costs("INSTANCE", instance_content(memory=2048, rootfs_size_mib=40960),
                     default_table)
    two_units = costs("INSTANCE", instance_content(memory=4096, rootfs_size_mib=40960),
                      default_table)

    # 1 CU: 1000 + 2048 - 1024 = 2024; 2 CU: 2000 + 2048 - 2048 = 2000
    assert one_unit.hold_total == Decimal("2024")
    assert two_units.hold_total == Decimal("2000")


def test_extra_vcpus_within_the_gpu_units_can_lower_the_stream_cost(default_table):
    # The GPU discount allowance counts resource CUs, not GPU CUs: an A100 (16 CU) with 1 vCPU
    # has 61440 MiB included, with 8 vCPU 491520 MiB, for the same execution price.
    one_vcpu = costs("INSTANCE", instance_content(
        gpus=[gpu(A100)], vcpus=1, memory=2048, rootfs_size_mib=200000), default_table)
    eight_vcpus = costs("INSTANCE", instance_content(
        gpus=[gpu(A100)], vcpus=8, memory=2048, rootfs_size_mib=200000), default_table)

    # execution 16 × 0.0001555555555555555555555555556 -> 0.002488888888888888 in both
    # rootfs 200000 × 2.713888888888888888888888889E-10 = 0.00005427777777777777777777778
    # 1 vCPU: cap 61440 × 2.7138...E-10 = 0.00001667413333333333333333333 -> -0.000016674133333334
    #   total 0.002488888888888888 + 0.000054277777777777 - 0.000016674133333334
    # 8 vCPU: the rootfs fits in 491520 MiB, the discount cancels it: 0.002488888888888888
    assert _exact(one_vcpu.stream_per_second) == "0.002526492533333331"
    assert _exact(eight_vcpus.stream_per_second) == "0.002488888888888888"


def test_the_callers_decimal_context_does_not_change_a_cost(default_table):
    parsed = parse_content("INSTANCE", instance_content(rootfs_size_mib=30720), estimate=True)

    with localcontext() as context:
        context.prec = 10
        context.rounding = ROUND_FLOOR
        breakdown = compute_costs(parsed, default_table)
        totals = totals_of(breakdown)

    # the rows and totals of the rootfs-beyond-the-allowance case, at precision 28
    assert rows_of(breakdown)[-1] == (
        DISCOUNT, DISCOUNT, None,
        "-1024.000000000000000000", "-0.000005558044444445", "-1.022150487075618589")
    assert totals == (
        "1512.000000000000000000", "0.000018056799999998", "4.469408576871142626")
