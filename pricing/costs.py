"""The cost engine: a parsed Aleph message content and a pricing table in, cost rows out.

Pure: no ORM, no I/O, no clock. Every rule of PRICING.md lives here, with the network's own
arithmetic (Python decimals at precision 28, rates divided by 3600 before they are multiplied,
each column of each row floored to 18 decimals), so a cost agrees with the network's to the last
decimal. Sizes of referenced files are passed in by the caller (`ref_sizes_mib`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Context, Decimal, InvalidOperation, localcontext
from typing import Any, Mapping

from .enums import CostRowType, PaymentType, ProductType

HOUR_SECONDS = 3600
DAY_SECONDS = 86_400
MIB_BYTES = 1_048_576
PRICE_DECIMALS = 18
_QUANTUM = Decimal(1).scaleb(-PRICE_DECIMALS)
_ZERO = Decimal(0)
# The network computes with Python's default decimal context; pin it so no caller can change it.
_CONTEXT = Context(prec=28)

MIN_CREDIT_COST_PER_HOUR = Decimal(1)
MIN_STORE_CREDIT_SIZE_MIB = Decimal(25)

# Plain strings inside the engine: enum members hash by name, plain keys by value.
_STORAGE = ProductType.STORAGE.value
_PROGRAM = ProductType.PROGRAM.value
_PROGRAM_PERSISTENT = ProductType.PROGRAM_PERSISTENT.value
_INSTANCE = ProductType.INSTANCE.value
_INSTANCE_CONFIDENTIAL = ProductType.INSTANCE_CONFIDENTIAL.value
_GPU_PREMIUM = ProductType.INSTANCE_GPU_PREMIUM.value
_GPU_STANDARD = ProductType.INSTANCE_GPU_STANDARD.value
_CREDIT = PaymentType.CREDIT.value
_SUPERFLUID = PaymentType.SUPERFLUID.value
_HOLD = PaymentType.HOLD.value


# --- errors ------------------------------------------------------------------------------------

class CostError(Exception):
    """The content cannot be priced; `code` and `details` go into the API's error shape."""

    code = "cannot_price"

    def __init__(self, message: str, **details: Any):
        super().__init__(message)
        self.message = message
        self.details = details


class UnknownGpuDevice(CostError):
    code = "unknown_gpu_device"


class GpuModelNotPriced(CostError):
    code = "gpu_model_not_priced"


class UnknownVolumeSize(CostError):
    code = "unknown_volume_size"


class ProductNotPriced(CostError):
    code = "product_not_priced"


class CostOutOfRange(CostError):
    code = "cost_out_of_range"


# --- units -------------------------------------------------------------------------------------

def floor18(value: Decimal) -> Decimal:
    """Round toward minus infinity to 18 decimals, as every cost column is."""
    try:
        return value.quantize(_QUANTUM, rounding=ROUND_FLOOR, context=_CONTEXT)
    except InvalidOperation as exc:
        raise CostOutOfRange(f"A cost of {value} is out of the range this service prices.",
                             value=str(value)) from exc


def rate_per_second(rate_per_hour: Decimal) -> Decimal:
    """An hourly price as a per-second rate (divided first, then multiplied by a quantity)."""
    return _CONTEXT.divide(rate_per_hour, HOUR_SECONDS)


def amount_for_seconds(rate_per_second_: Decimal, seconds: int) -> Decimal:
    """What a per-second rate costs over `seconds`: the one conversion every consumer uses."""
    return _CONTEXT.multiply(rate_per_second_, seconds)


def format_amount(value: Decimal) -> str:
    """An amount as a JSON string with exactly 18 decimals, floored.

    Floored with as many digits as the value needs, not the engine's 28: an amount read from a
    numeric(38, 18) column (a token balance of 10**10 already has 29 digits) must always format.
    """
    if not value.is_finite():
        return f"{floor18(value):.18f}"
    # The integer digits, one more for a carry of the floor (-9.99… to -10), and the decimals.
    digits = max(_CONTEXT.prec, value.adjusted() + 2 + PRICE_DECIMALS)
    floored = value.quantize(_QUANTUM, rounding=ROUND_FLOOR, context=Context(prec=digits))
    return f"{floored:.18f}"


def format_amount_or_none(value: Decimal | None) -> str | None:
    """`format_amount`, or None for an amount that does not apply."""
    return None if value is None else format_amount(value)


MIN_CREDIT_COST_PER_SECOND = floor18(rate_per_second(MIN_CREDIT_COST_PER_HOUR))


# --- pricing table -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Rates:
    """Prices of one unit (a CU or a MiB): hold is absolute, PAYG and credit are per hour."""

    hold: Decimal = _ZERO
    payg_per_hour: Decimal = _ZERO
    credit_per_hour: Decimal = _ZERO
    payg_per_second: Decimal = field(init=False)
    credit_per_second: Decimal = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "payg_per_second", rate_per_second(self.payg_per_hour))
        object.__setattr__(self, "credit_per_second", rate_per_second(self.credit_per_hour))


@dataclass(frozen=True, slots=True)
class ComputeUnit:
    vcpus: int
    memory_mib: int
    disk_mib: int


@dataclass(frozen=True, slots=True)
class Tier:
    id: str
    compute_units: int
    model: str | None = None
    vram_mib: int | None = None


@dataclass(frozen=True, slots=True)
class ProductPricing:
    product_type: str
    storage: Rates = Rates()
    compute_unit_price: Rates | None = None
    compute_unit: ComputeUnit | None = None
    tiers: tuple[Tier, ...] = ()
    fixed_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class PricingTable:
    """Everything the engine needs from a pricing version."""

    version_id: int | None
    products: Mapping[str, ProductPricing]
    gpu_models: Mapping[str, str]  # PCI device id → model

    def product(self, product_type: str) -> ProductPricing:
        try:
            return self.products[str(product_type)]
        except KeyError:
            raise ProductNotPriced(
                f"The pricing version in force has no product '{product_type}'.",
                product_type=str(product_type)) from None


# --- results -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CostRow:
    type: str
    name: str
    ref: str | None
    cost_hold: Decimal
    cost_stream_per_second: Decimal
    cost_credit_per_second: Decimal
    size_mib: Decimal | None = None


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    product_type: str
    payment_type: str
    rows: tuple[CostRow, ...]
    pricing_version_id: int | None

    def column_total(self, payment_type: str) -> Decimal:
        """Sum of one column over the rows, floored: tokens (hold), tokens/s or credits/s."""
        if payment_type == _CREDIT:
            values = [row.cost_credit_per_second for row in self.rows]
        elif payment_type == _SUPERFLUID:
            values = [row.cost_stream_per_second for row in self.rows]
        else:
            values = [row.cost_hold for row in self.rows]
        return floor18(_sum(values))

    @property
    def total(self) -> Decimal:
        """The cost in the payment type's own unit."""
        return self.column_total(self.payment_type)

    @property
    def hold_total(self) -> Decimal:
        return self.column_total(_HOLD)

    @property
    def stream_per_second(self) -> Decimal:
        return self.column_total(_SUPERFLUID)

    @property
    def credit_per_second(self) -> Decimal:
        return self.column_total(_CREDIT)


def _sum(values) -> Decimal:
    total = _ZERO
    for value in values:
        total = _CONTEXT.add(total, value)
    return total


# --- classification ----------------------------------------------------------------------------

def payment_type_of(content) -> str:
    payment = getattr(content, "payment", None)
    kind = getattr(getattr(payment, "type", None), "value", None)
    if kind == _CREDIT:
        return _CREDIT
    if kind == _SUPERFLUID:
        return _SUPERFLUID
    return _HOLD


def _is_program(content) -> bool:
    return hasattr(content, "code") and hasattr(content, "on")


def _is_store(content) -> bool:
    return hasattr(content, "item_type") and not hasattr(content, "resources")


def _gpus(content) -> list:
    requirements = getattr(content, "requirements", None)
    return list(getattr(requirements, "gpu", None) or [])


def _is_persistent_program(content) -> bool:
    return bool(getattr(content.on, "persistent", False))


def _has_trusted_execution(content) -> bool:
    return bool(getattr(getattr(content, "environment", None), "trusted_execution", None))


# --- the rules ---------------------------------------------------------------------------------

def _compute_units(content, cu: ComputeUnit) -> int:
    vcpus = int(content.resources.vcpus)
    memory_mib = int(content.resources.memory)
    by_memory = -(-memory_mib // cu.memory_mib)
    return vcpus if vcpus >= by_memory else by_memory


def _require_cu(product: ProductPricing) -> ComputeUnit:
    if product.compute_unit is None or product.compute_unit_price is None:
        raise ProductNotPriced(
            f"Product '{product.product_type}' has no compute unit or no compute unit price.",
            product_type=str(product.product_type))
    return product.compute_unit


def _execution_row(name: str, units: int, price: Rates, *, credit_floor: bool) -> CostRow:
    credit = floor18(units * price.credit_per_second)
    if credit_floor and credit < MIN_CREDIT_COST_PER_SECOND:
        credit = MIN_CREDIT_COST_PER_SECOND
    return CostRow(
        type=CostRowType.EXECUTION.value,
        name=name,
        ref=None,
        cost_hold=floor18(units * price.hold),
        cost_stream_per_second=floor18(units * price.payg_per_second),
        cost_credit_per_second=credit,
    )


def _volume_row(row_type: str, name: str, ref: str | None, size_mib: Decimal, storage: Rates,
                *, credit_floor: bool) -> CostRow:
    credit = floor18(size_mib * storage.credit_per_second)
    if credit_floor and credit < MIN_CREDIT_COST_PER_SECOND:
        credit = MIN_CREDIT_COST_PER_SECOND
    return CostRow(
        type=row_type,
        name=name,
        ref=ref,
        cost_hold=floor18(size_mib * storage.hold),
        cost_stream_per_second=floor18(size_mib * storage.payg_per_second),
        cost_credit_per_second=credit,
        size_mib=size_mib,
    )


def _sized(estimated, ref: str | None, ref_sizes_mib: Mapping[str, Decimal], what: str) -> Decimal:
    """Size of a referenced file: the estimate when given, else the known STORE resource."""
    if estimated:
        return Decimal(estimated)
    if ref is not None and ref in ref_sizes_mib:
        return ref_sizes_mib[ref]
    raise UnknownVolumeSize(
        f"The size of {what} is unknown: '{ref}' is not a registered STORE resource and no "
        f"estimated_size_mib was given.", ref=ref, volume=what)


def _volumes(content, ref_sizes_mib) -> list[tuple[str, str, str | None, Decimal]]:
    """(row type, name, ref, size in MiB) of every volume of an executable content."""
    volumes: list[tuple[str, str, str | None, Decimal]] = []
    if _is_program(content):
        for attr, row_type in (("code", CostRowType.EXECUTION_PROGRAM_VOLUME_CODE.value),
                               ("runtime", CostRowType.EXECUTION_PROGRAM_VOLUME_RUNTIME.value),
                               ("data", CostRowType.EXECUTION_PROGRAM_VOLUME_DATA.value)):
            part = getattr(content, attr, None)
            if part is None:
                continue
            ref = str(part.ref)
            size = _sized(getattr(part, "estimated_size_mib", None), ref, ref_sizes_mib, attr)
            volumes.append((row_type, row_type, ref, size))
    else:
        rootfs = content.rootfs
        volumes.append((CostRowType.EXECUTION_INSTANCE_VOLUME_ROOTFS.value,
                        CostRowType.EXECUTION_INSTANCE_VOLUME_ROOTFS.value,
                        str(rootfs.parent.ref), Decimal(rootfs.size_mib)))
    for index, volume in enumerate(content.volumes or ()):
        ref = getattr(volume, "ref", None)
        if ref is not None:
            row_type = CostRowType.EXECUTION_VOLUME_INMUTABLE.value
            size = _sized(getattr(volume, "estimated_size_mib", None), str(ref), ref_sizes_mib,
                          f"volume #{index}")
            ref = str(ref)
        else:
            row_type = CostRowType.EXECUTION_VOLUME_PERSISTENT.value
            size = Decimal(volume.size_mib)
        volumes.append((row_type, f"#{index}:{volume.mount or row_type}", ref, size))
    return volumes


def _storage_rows(content, product: ProductPricing, resource_units: int, credit: bool,
                  ref_sizes_mib) -> list[CostRow]:
    """Volume rows, then the included-disk discount row (negative)."""
    storage = product.storage
    rows = [_volume_row(row_type, name, ref, size, storage, credit_floor=credit)
            for row_type, name, ref, size in _volumes(content, ref_sizes_mib)]
    allowance_mib = resource_units * product.compute_unit.disk_mib
    discount_hold = min(_sum(r.cost_hold for r in rows), allowance_mib * storage.hold)
    discount_stream = min(_sum(r.cost_stream_per_second for r in rows),
                          allowance_mib * storage.payg_per_second)
    discount_credit = min(_sum(r.cost_credit_per_second for r in rows),
                          allowance_mib * storage.credit_per_second)
    rows.append(CostRow(
        type=CostRowType.EXECUTION_VOLUME_DISCOUNT.value,
        name=CostRowType.EXECUTION_VOLUME_DISCOUNT.value,
        ref=None,
        cost_hold=floor18(-discount_hold),
        cost_stream_per_second=floor18(-discount_stream),
        cost_credit_per_second=floor18(-discount_credit),
    ))
    return rows


def _gpu_buckets(content, table: PricingTable) -> dict[str, int]:
    """GPU compute units per tier bucket, in the order the buckets first appear."""
    premium = table.product(_GPU_PREMIUM)
    standard = table.product(_GPU_STANDARD)
    buckets: dict[str, int] = {}
    for gpu in _gpus(content):
        device_id = gpu.device_id
        model = table.gpu_models.get(device_id)
        if model is None:
            raise UnknownGpuDevice(f"GPU device id '{device_id}' is not in the GPU catalogue.",
                                   device_id=device_id)
        for product in (premium, standard):
            tier = next((t for t in product.tiers if t.model == model), None)
            if tier is not None:
                bucket = _GPU_PREMIUM if product is premium else _GPU_STANDARD
                buckets[bucket] = buckets.get(bucket, 0) + tier.compute_units
                break
        else:
            raise GpuModelNotPriced(
                f"GPU model '{model}' (device id '{device_id}') is in no premium or standard "
                f"tier, so it cannot be priced.", device_id=device_id, model=model)
    return buckets


def _instance_product_type(content, table: PricingTable) -> str:
    if _gpus(content):
        return _GPU_PREMIUM if _GPU_PREMIUM in _gpu_buckets(content, table) else _GPU_STANDARD
    if _has_trusted_execution(content):
        return _INSTANCE_CONFIDENTIAL
    return _INSTANCE


def product_type_of(content, table: PricingTable) -> str:
    if _is_store(content):
        return _STORAGE
    if _is_program(content):
        return _PROGRAM_PERSISTENT if _is_persistent_program(content) else _PROGRAM
    return _instance_product_type(content, table)


def _gpu_instance_rows(content, table, credit: bool, ref_sizes_mib) -> tuple[str, list[CostRow]]:
    buckets = _gpu_buckets(content, table)
    dominant = _GPU_PREMIUM if _GPU_PREMIUM in buckets else _GPU_STANDARD
    dominant_cu = _require_cu(table.product(dominant))
    # GPU CUs are a lower bound: resources beyond them are billed in the dominant bucket.
    resource_units = _compute_units(content, dominant_cu)
    gpu_units = sum(buckets.values())
    if resource_units > gpu_units:
        buckets[dominant] = buckets.get(dominant, 0) + resource_units - gpu_units
    rows = []
    for product_type, units in buckets.items():
        product = table.product(product_type)
        _require_cu(product)
        rows.append(_execution_row(product_type, units, product.compute_unit_price,
                                   credit_floor=False))
    storage_product = table.product(_GPU_PREMIUM)
    storage_units = _compute_units(content, _require_cu(storage_product))
    rows += _storage_rows(content, storage_product, storage_units, credit, ref_sizes_mib)
    return dominant, rows


def _refuse_confidential_gpus(content) -> None:
    trusted = getattr(getattr(content, "environment", None), "trusted_execution", None)
    if getattr(trusted, "gpu", None):
        # PRICING.md has no rule for them: refuse rather than let the cards cost nothing.
        raise GpuModelNotPriced("Confidential-computing GPUs (environment.trusted_execution.gpu) "
                                "cannot be priced yet; list the cards in requirements.gpu.",
                                device_id=None, model=None)


def _executable_rows(content, table, credit: bool, ref_sizes_mib) -> tuple[str, list[CostRow]]:
    _refuse_confidential_gpus(content)
    if not _is_program(content) and _gpus(content):
        return _gpu_instance_rows(content, table, credit, ref_sizes_mib)
    product_type = product_type_of(content, table)
    product = table.product(product_type)
    cu = _require_cu(product)
    units = _compute_units(content, cu)
    multiplier = 2 if (product_type == _PROGRAM
                       and getattr(content.environment, "internet", False)) else 1
    rows = [_execution_row(product_type, units * multiplier, product.compute_unit_price,
                           credit_floor=credit)]
    rows += _storage_rows(content, product, units, credit, ref_sizes_mib)
    return product_type, rows


def _store_size_mib(content) -> Decimal:
    """The stored file's size: `estimated_size_mib` when given (0 too: an empty file is a size,
    not a missing one), else the declared byte size in MiB."""
    estimated = getattr(content, "estimated_size_mib", None)
    if estimated is not None:
        return Decimal(estimated)
    if content.size is not None:
        return _CONTEXT.divide(Decimal(content.size), MIB_BYTES)
    raise UnknownVolumeSize("The size of the stored file is unknown: give content.size (bytes) "
                            "or estimated_size_mib.", ref=str(content.item_hash))


def _store_rows(content, table, credit: bool, item_hash: str | None) -> list[CostRow]:
    product = table.product(_STORAGE)
    size_mib = _store_size_mib(content)
    # PRICING.md: a file paid by credit pays for 25 MiB at least, an empty one included.
    if credit and size_mib < MIN_STORE_CREDIT_SIZE_MIB:
        size_mib = MIN_STORE_CREDIT_SIZE_MIB
    return [_volume_row(CostRowType.STORAGE.value, CostRowType.STORAGE.value,
                        item_hash or str(content.item_hash), size_mib, product.storage,
                        credit_floor=credit)]


def compute_costs(content, table: PricingTable, *,
                  ref_sizes_mib: Mapping[str, Decimal] | None = None,
                  item_hash: str | None = None) -> CostBreakdown:
    """Cost rows of an INSTANCE, PROGRAM or STORE content under `table`.

    `content` is an aleph-message content model (or the estimate variant with
    `estimated_size_mib` fields); `ref_sizes_mib` maps item hashes of known STORE resources to
    their size; `item_hash` is the message's own hash (the ref of a STORAGE row).
    """
    ref_sizes_mib = ref_sizes_mib or {}
    payment_type = payment_type_of(content)
    credit = payment_type == _CREDIT
    with localcontext(_CONTEXT):
        if _is_store(content):
            product_type = _STORAGE
            rows = _store_rows(content, table, credit, item_hash)
        else:
            product_type, rows = _executable_rows(content, table, credit, ref_sizes_mib)
    return CostBreakdown(product_type=product_type, payment_type=payment_type, rows=tuple(rows),
                         pricing_version_id=table.version_id)
