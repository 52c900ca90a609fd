"""The network's pricing-aggregate and settings-aggregate JSON shapes: parsed into specs (every
problem reported with its JSON path), exported from pricing versions, and turned into tables.
Payment rules, which the network keeps in its code rather than in an aggregate, have a document
of this service's own: `{"payment_rules": [...]}`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any, Iterable

from django.utils.dateparse import parse_datetime

from credits_project.text import unstorable_text_path

from .costs import ComputeUnit, PricingTable, ProductPricing, Rates, Tier
from .enums import PaymentType, ProductType
from .rules import PaymentRuleSpec

_ZERO = Decimal(0)

# The network's own order of products in its aggregate (exports follow it, for easy diffing).
PRODUCT_ORDER = (
    ProductType.PROGRAM, ProductType.PROGRAM_PERSISTENT, ProductType.INSTANCE,
    ProductType.INSTANCE_CONFIDENTIAL, ProductType.INSTANCE_GPU_STANDARD,
    ProductType.INSTANCE_GPU_PREMIUM, ProductType.STORAGE, ProductType.WEB3_HOSTING,
)
# web3_hosting is catalogue only: no cost path uses it, so an aggregate may leave it out.
OPTIONAL_PRODUCTS = frozenset({ProductType.WEB3_HOSTING.value})
REQUIRED_PRODUCTS = tuple(p.value for p in PRODUCT_ORDER if p.value not in OPTIONAL_PRODUCTS)
# Products the engine prices by compute unit: without a CU and a CU price they cannot be priced.
CU_PRODUCTS = frozenset(p.value for p in (
    ProductType.PROGRAM, ProductType.PROGRAM_PERSISTENT, ProductType.INSTANCE,
    ProductType.INSTANCE_CONFIDENTIAL, ProductType.INSTANCE_GPU_STANDARD,
    ProductType.INSTANCE_GPU_PREMIUM))
GPU_PRODUCTS = frozenset({ProductType.INSTANCE_GPU_STANDARD.value,
                          ProductType.INSTANCE_GPU_PREMIUM.value})

# JSON key → ProductSpec field, per price section.
_CU_PRICE_FIELDS = {"holding": "price_cu_hold", "payg": "price_cu_payg_per_hour",
                    "credit": "price_cu_credit_per_hour"}
_STORAGE_PRICE_FIELDS = {"holding": "price_storage_hold_per_mib",
                         "payg": "price_storage_payg_per_mib_hour",
                         "credit": "price_storage_credit_per_mib_hour"}
_CU_FIELDS = {"vcpus": "cu_vcpus", "memory_mib": "cu_memory_mib", "disk_mib": "cu_disk_mib"}

GPU_DEVICE_ID_RE = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{4}$")
# A plain decimal literal: Decimal() alone would also take "NaN", "1_000" and " 1 ".
_DECIMAL_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
MAX_DECIMAL_PLACES = 18
MAX_INTEGER_DIGITS = 20  # numeric(38, 18)
MAX_POSITIVE_INT = 2_147_483_647  # PositiveIntegerField on every database
# Lengths of the model's character columns.
MAX_TIER_ID = 32
MAX_MODEL = 64
MAX_GPU_NAME = 120
MAX_VENDOR = 32
MAX_RULE_NAME = 64
MAX_RULE_DESCRIPTION = 200
_SLUG_RE = re.compile(r"^[-a-zA-Z0-9_]+$")
# How a settings aggregate's repeated device id is read: refused (the default: a device id maps
# to one model), or as the network reads it, the first entry winning and the others ignored.
GPU_DUPLICATES_REFUSE = "refuse"
GPU_DUPLICATES_FIRST_WINS = "first_wins"


class AggregateInvalid(ValueError):
    """A pricing or settings document with problems; `errors` lists every one with its path."""

    code = "aggregate_invalid"

    def __init__(self, errors: list[str], warnings: Iterable[str] = ()):
        self.errors = list(errors)
        self.warnings = list(warnings)
        self.message = f"{len(self.errors)} problem(s) found: " + "; ".join(self.errors)
        super().__init__(self.message)


@dataclass(frozen=True)
class TierSpec:
    tier_id: str
    compute_units: int
    model: str = ""
    vram_mib: int | None = None


@dataclass(frozen=True)
class ProductSpec:
    """One product as the Product model holds it (empty prices are None, not zero)."""

    product_type: str
    cu_vcpus: int | None = None
    cu_memory_mib: int | None = None
    cu_disk_mib: int | None = None
    price_cu_hold: Decimal | None = None
    price_cu_payg_per_hour: Decimal | None = None
    price_cu_credit_per_hour: Decimal | None = None
    price_storage_hold_per_mib: Decimal | None = None
    price_storage_payg_per_mib_hour: Decimal | None = None
    price_storage_credit_per_mib_hour: Decimal | None = None
    price_fixed_hold: Decimal | None = None
    tiers: tuple[TierSpec, ...] = ()

    def product_fields(self) -> dict[str, Any]:
        """The Product model's own fields (everything but the tiers)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "tiers"}


@dataclass(frozen=True)
class GpuSpec:
    device_id: str
    model: str
    name: str = ""
    vendor: str = "NVIDIA"


class ProductSpecs(list):
    """The products of an aggregate, with `warnings` about what was ignored (unknown products)."""

    def __init__(self, items: Iterable[ProductSpec] = (), warnings: Iterable[str] = ()):
        super().__init__(items)
        self.warnings = list(warnings)


class GpuSpecs(list):
    """The GPU catalogue of a settings aggregate, with `warnings` about ignored keys."""

    def __init__(self, items: Iterable[GpuSpec] = (), warnings: Iterable[str] = ()):
        super().__init__(items)
        self.warnings = list(warnings)


class PaymentRuleSpecs(list):
    """The payment rules of a payment-rules document."""


# --- reading JSON text -------------------------------------------------------------------------

def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def aggregate_json_loads(text: str | bytes, *, label: str = "JSON") -> Any:
    """Parse a JSON document with every number kept exact (no float ever touches a price)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise AggregateInvalid([f"{label}: not UTF-8 text ({exc.reason} at byte "
                                    f"{exc.start})"]) from exc
    try:
        data = json.loads(text, parse_float=Decimal, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise AggregateInvalid([f"{label}: not valid JSON: {exc.msg} (line {exc.lineno} "
                                f"column {exc.colno})"]) from exc
    except ValueError as exc:
        raise AggregateInvalid([f"{label}: not valid JSON: {exc}"]) from exc
    except RecursionError as exc:
        raise AggregateInvalid([f"{label}: nested too deeply"]) from exc
    path = unstorable_text_path(data)
    if path is not None:
        raise AggregateInvalid([f"{label}: text that cannot be stored (a NUL character or a lone "
                                f"UTF-16 surrogate) at {path}"])
    return data


# --- parsing -----------------------------------------------------------------------------------

def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        shown = json.dumps(value if len(value) <= 40 else value[:37] + "...")
        return shown
    return str(value)


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")


class _Problems:
    def __init__(self):
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}")

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(f"{path}: {message}")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _exact_decimal(value: Any) -> Decimal | None:
    """The value as an exact Decimal, or None if it is not a plain decimal literal."""
    if isinstance(value, bool) or isinstance(value, float):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, str) and _DECIMAL_RE.match(value):
        return Decimal(value)
    return None


def _strip_zeros(value: Decimal) -> Decimal:
    """The same number without trailing fractional zeros, computed without any rounding."""
    sign, digits, exponent = value.as_tuple()
    digits = list(digits)
    while exponent < 0 and len(digits) > 1 and digits[-1] == 0:
        digits.pop()
        exponent += 1
    if not any(digits):
        return Decimal(0)
    return Decimal((sign, tuple(digits), exponent))


def _price(value: Any, path: str, problems: _Problems) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, float):
        problems.error(path, f"{value!r} is a binary float; write prices as strings or read the "
                             "JSON with parse_float=Decimal")
        return None
    number = _exact_decimal(value)
    if number is None:
        problems.error(path, f"{_show(value)} is not a decimal number")
        return None
    number = _strip_zeros(number)
    sign, digits, exponent = number.as_tuple()
    ok = True
    if sign:
        problems.error(path, f"{_show(value)} is negative; prices are 0 or more")
        ok = False
    if exponent < -MAX_DECIMAL_PLACES:
        problems.error(path, f"{_show(value)} has {-exponent} decimal places; at most "
                             f"{MAX_DECIMAL_PLACES} are kept")
        ok = False
    if len(digits) + exponent > MAX_INTEGER_DIGITS:
        problems.error(path, f"{_show(value)} is too large (at most {MAX_INTEGER_DIGITS} digits "
                             "before the decimal point)")
        ok = False
    return number if ok else None


def _int(value: Any, path: str, problems: _Problems, *, minimum: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.error(path, f"{_show(value)} is not a whole number")
        return None
    if value < minimum:
        problems.error(path, f"{value} is less than {minimum}")
        return None
    if value > MAX_POSITIVE_INT:
        problems.error(path, f"{value} is too large (at most {MAX_POSITIVE_INT})")
        return None
    return value


def _text(value: Any, path: str, problems: _Problems, *, max_length: int,
          required: bool) -> str | None:
    if value is None:
        if required:
            problems.error(path, "missing")
            return None
        return ""
    if not isinstance(value, str):
        problems.error(path, f"{_show(value)} is not a string")
        return None
    if required and not value.strip():
        problems.error(path, "is empty")
        return None
    if len(value) > max_length:
        problems.error(path, f"is longer than {max_length} characters")
        return None
    return value


def _object(value: Any, path: str, problems: _Problems) -> dict | None:
    if not isinstance(value, dict):
        problems.error(path, f"is {_type_name(value)}, expected an object")
        return None
    return value


def _unknown_keys(data: dict, known: Iterable[str], path: str, problems: _Problems) -> None:
    # An error, not a warning: a misspelt price key would otherwise silently price at zero.
    for key in data:
        if key not in known:
            problems.error(_join(path, str(key)), f"unknown key (expected one of "
                                                  f"{', '.join(sorted(known))})")


def _rates(section: Any, path: str, field_names: dict[str, str], values: dict,
           problems: _Problems) -> None:
    section = _object(section, path, problems)
    if section is None:
        return
    _unknown_keys(section, field_names, path, problems)
    for key, field_name in field_names.items():
        if key in section:
            values[field_name] = _price(section[key], _join(path, key), problems)


def _tiers(data: Any, path: str, problems: _Problems, *, gpu: bool) -> tuple[TierSpec, ...]:
    if not isinstance(data, list):
        problems.error(path, f"is {_type_name(data)}, expected a list of tiers")
        return ()
    tiers = []
    seen: dict[str, int] = {}
    for index, item in enumerate(data):
        item_path = f"{path}[{index}]"
        item = _object(item, item_path, problems)
        if item is None:
            continue
        _unknown_keys(item, ("id", "compute_units", "model", "vram"), item_path, problems)
        tier_id = _text(item.get("id"), _join(item_path, "id"), problems,
                        max_length=MAX_TIER_ID, required=True)
        if "compute_units" not in item:
            problems.error(_join(item_path, "compute_units"), "missing")
            compute_units = None
        else:
            compute_units = _int(item["compute_units"], _join(item_path, "compute_units"),
                                 problems, minimum=1)
        model = _text(item.get("model"), _join(item_path, "model"), problems,
                      max_length=MAX_MODEL, required=gpu)
        vram = item.get("vram")
        vram_mib = None if vram is None else _int(vram, _join(item_path, "vram"), problems,
                                                  minimum=1)
        if tier_id is not None:
            if tier_id in seen:
                problems.error(_join(item_path, "id"),
                               f"{_show(tier_id)} is already used by {path}[{seen[tier_id]}]")
                continue
            seen[tier_id] = index
        if None not in (tier_id, compute_units, model):
            tiers.append(TierSpec(tier_id=tier_id, compute_units=compute_units, model=model,
                                  vram_mib=vram_mib))
    return tuple(tiers)


def _product(product_type: str, data: Any, problems: _Problems) -> ProductSpec | None:
    path = product_type
    data = _object(data, path, problems)
    if data is None:
        return None
    errors_before = len(problems.errors)
    _unknown_keys(data, ("price", "compute_unit", "tiers"), path, problems)
    values: dict[str, Any] = {}

    price = data.get("price")
    if price is None:
        problems.error(_join(path, "price"), "missing")
    else:
        price = _object(price, _join(path, "price"), problems)
    if price is not None:
        _unknown_keys(price, ("compute_unit", "storage", "fixed"), _join(path, "price"),
                      problems)
        if price.get("compute_unit") is not None:
            _rates(price["compute_unit"], _join(path, "price.compute_unit"), _CU_PRICE_FIELDS,
                   values, problems)
        elif product_type in CU_PRODUCTS:
            problems.error(_join(path, "price.compute_unit"), "missing (this product is priced "
                                                              "per compute unit)")
        if price.get("storage") is not None:
            _rates(price["storage"], _join(path, "price.storage"), _STORAGE_PRICE_FIELDS,
                   values, problems)
        elif product_type == ProductType.STORAGE:
            problems.error(_join(path, "price.storage"), "missing")
        if "fixed" in price:
            values["price_fixed_hold"] = _price(price["fixed"], _join(path, "price.fixed"),
                                                problems)

    cu = data.get("compute_unit")
    if cu is not None:
        cu = _object(cu, _join(path, "compute_unit"), problems)
        if cu is not None:
            _unknown_keys(cu, _CU_FIELDS, _join(path, "compute_unit"), problems)
            for key, field_name in _CU_FIELDS.items():
                key_path = _join(path, f"compute_unit.{key}")
                if key not in cu:
                    problems.error(key_path, "missing")
                else:
                    values[field_name] = _int(cu[key], key_path, problems, minimum=1)
    elif product_type in CU_PRODUCTS:
        problems.error(_join(path, "compute_unit"), "missing (vcpus, memory_mib, disk_mib)")

    tiers: tuple[TierSpec, ...] = ()
    if data.get("tiers") is not None:
        tiers = _tiers(data["tiers"], _join(path, "tiers"), problems,
                       gpu=product_type in GPU_PRODUCTS)
    if product_type in GPU_PRODUCTS and not data.get("tiers"):
        problems.error(_join(path, "tiers"), "missing (a GPU product needs its tiers: one per "
                                             "GPU model, with its compute units)")
    if len(problems.errors) > errors_before:
        return None
    return ProductSpec(product_type=product_type, tiers=tiers, **values)


def _unwrap(data: Any, key: str) -> Any:
    """The aggregate under the network's API wrappers: {"data": {key: ...}} or {key: ...}."""
    if isinstance(data, dict):
        inner = data.get("data")
        if isinstance(inner, dict) and isinstance(inner.get(key), dict):
            return inner[key]
        if isinstance(data.get(key), dict):
            return data[key]
    return data


def parse_price_aggregate(data: Any) -> ProductSpecs:
    """The products of a pricing aggregate (bare, or wrapped as the network's API returns it).

    Every product type but web3_hosting must be present. Unknown product types are not fatal:
    the network may price things this service does not; they are skipped and listed in
    `.warnings`. Unknown keys inside a product are errors (a misspelt price would read as zero).
    Raises AggregateInvalid listing every problem with its JSON path.
    """
    problems = _Problems()
    data = _unwrap(data, "pricing")
    if not isinstance(data, dict):
        raise AggregateInvalid([f"(document): is {_type_name(data)}, expected a pricing "
                                "aggregate object {product_type: {...}}"])
    known = {p.value for p in ProductType}
    products = []
    for product_type in REQUIRED_PRODUCTS:
        if product_type not in data:
            problems.error(product_type, "missing (every product type but web3_hosting must "
                                         "be priced)")
    for product_type, spec in data.items():
        if product_type not in known:
            problems.warn(str(product_type), "unknown product type, ignored")
            continue
        product = _product(product_type, spec, problems)
        if product is not None:
            products.append(product)
    if problems.errors:
        raise AggregateInvalid(problems.errors, problems.warnings)
    order = {p.value: i for i, p in enumerate(PRODUCT_ORDER)}
    products.sort(key=lambda p: order[p.product_type])
    return ProductSpecs(products, problems.warnings)


def parse_compatible_gpus(data: Any, *, duplicates: str = GPU_DUPLICATES_REFUSE) -> GpuSpecs:
    """The GPU catalogue of a settings aggregate: `{"compatible_gpus": [...]}`, wrapped in
    `{"settings": ...}` or `{"data": {"settings": ...}}`, or the bare list.

    Device ids are lowercase `vendor:device` hex and unique; a duplicate is an error naming
    both entries, or with `duplicates=GPU_DUPLICATES_FIRST_WINS` a warning: the first entry is
    kept, as the network's lookup finds it first, and the later one is ignored.
    Raises AggregateInvalid listing every problem with its JSON path.
    """
    if duplicates not in (GPU_DUPLICATES_REFUSE, GPU_DUPLICATES_FIRST_WINS):
        raise ValueError(f"duplicates: {duplicates!r} is not refuse or first_wins")
    problems = _Problems()
    data = _unwrap(data, "settings")
    if isinstance(data, dict):
        if "compatible_gpus" not in data:
            raise AggregateInvalid(["compatible_gpus: missing (expected a settings aggregate "
                                    "with a compatible_gpus list)"])
        data = data["compatible_gpus"]
    if not isinstance(data, list):
        raise AggregateInvalid([f"compatible_gpus: is {_type_name(data)}, expected a list"])
    gpus = []
    seen: dict[str, tuple[int, str]] = {}
    for index, item in enumerate(data):
        path = f"compatible_gpus[{index}]"
        item = _object(item, path, problems)
        if item is None:
            continue
        for key in item:
            if key not in ("device_id", "model", "name", "vendor"):
                problems.warn(_join(path, str(key)), "unknown key, ignored")
        errors_before = len(problems.errors)
        device_id = item.get("device_id")
        if device_id is None:
            problems.error(_join(path, "device_id"), "missing")
        elif not isinstance(device_id, str) or not GPU_DEVICE_ID_RE.match(device_id):
            problems.error(_join(path, "device_id"), f"{_show(device_id)} is not a PCI device "
                                                      "id (lowercase vendor:device hex, e.g. "
                                                      "10de:2684)")
            device_id = None
        model = _text(item.get("model"), _join(path, "model"), problems, max_length=MAX_MODEL,
                      required=True)
        name = _text(item.get("name"), _join(path, "name"), problems, max_length=MAX_GPU_NAME,
                     required=False)
        vendor = item.get("vendor")
        vendor = "NVIDIA" if vendor is None else _text(
            vendor, _join(path, "vendor"), problems, max_length=MAX_VENDOR, required=True)
        if device_id is not None:
            if device_id in seen and duplicates == GPU_DUPLICATES_FIRST_WINS:
                first_index, first_model = seen[device_id]
                problems.warn(_join(path, "device_id"),
                              f"{_show(device_id)} is listed again, as {_show(model)}; the "
                              f"network reads the first entry (compatible_gpus[{first_index}], "
                              f"{_show(first_model)}), so this one is ignored")
                continue
            if device_id in seen:
                first_index, first_model = seen[device_id]
                problems.error(_join(path, "device_id"),
                               f"{_show(device_id)} is listed twice: as {_show(first_model)} "
                               f"(compatible_gpus[{first_index}]) and as {_show(model)} "
                               f"(compatible_gpus[{index}]); a device id must map to one model")
                continue
            seen[device_id] = (index, model)
        if len(problems.errors) == errors_before:
            gpus.append(GpuSpec(device_id=device_id, model=model, name=name, vendor=vendor))
    if problems.errors:
        raise AggregateInvalid(problems.errors, problems.warnings)
    return GpuSpecs(gpus, problems.warnings)


def _choices(value: Any, path: str, problems: _Problems, *, allowed: Iterable[str],
             what: str) -> tuple[str, ...] | None:
    """A non-empty list of distinct values among `allowed`, in `allowed`'s order."""
    allowed = list(allowed)
    if not isinstance(value, list) or not value:
        problems.error(path, f"is {_show(value)}, expected a non-empty list of {what}")
        return None
    ok = True
    for index, item in enumerate(value):
        if not isinstance(item, str) or item not in allowed:
            problems.error(f"{path}[{index}]", f"{_show(item)} is not a {what[:-1]} (expected "
                                               f"one of {', '.join(allowed)})")
            ok = False
        elif item in value[:index]:
            problems.error(f"{path}[{index}]", f"{_show(item)} is listed twice")
            ok = False
    return tuple(item for item in allowed if item in value) if ok else None


def _aware_datetime(value: Any, path: str, problems: _Problems):
    parsed = None
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value)
        except ValueError:
            parsed = None
    if parsed is None:
        problems.error(path, f"{_show(value)} is not an ISO 8601 date and time "
                             "(e.g. 2027-01-01T00:00:00Z)")
        return None
    if parsed.tzinfo is None:
        problems.error(path, f"{_show(value)} has no time zone (add Z or +00:00)")
        return None
    return parsed


def parse_payment_rules(data: Any) -> PaymentRuleSpecs:
    """The payment rules of `{"payment_rules": [...]}` or of the bare list.

    Each rule: `name` (letters, digits, - and _; unique), `product_types` and `payment_types`
    (non-empty lists of known values), `not_accepted_from` (ISO 8601 with a time zone),
    `description` (optional). Unknown keys are errors. Raises AggregateInvalid listing every
    problem with its JSON path.
    """
    problems = _Problems()
    if isinstance(data, dict):
        if "payment_rules" not in data:
            raise AggregateInvalid(["payment_rules: missing (expected a document with a "
                                    "payment_rules list)"])
        data = data["payment_rules"]
    if not isinstance(data, list):
        raise AggregateInvalid([f"payment_rules: is {_type_name(data)}, expected a list"])
    rules = []
    seen: dict[str, int] = {}
    for index, item in enumerate(data):
        path = f"payment_rules[{index}]"
        item = _object(item, path, problems)
        if item is None:
            continue
        errors_before = len(problems.errors)
        _unknown_keys(item, ("name", "product_types", "payment_types", "not_accepted_from",
                             "description"), path, problems)
        name = _text(item.get("name"), _join(path, "name"), problems, max_length=MAX_RULE_NAME,
                     required=True)
        if name and not _SLUG_RE.match(name):
            problems.error(_join(path, "name"), f"{_show(name)} may hold only letters, digits, "
                                                "- and _")
        elif name and name in seen:
            problems.error(_join(path, "name"),
                           f"{_show(name)} is already used by payment_rules[{seen[name]}]")
        elif name:
            seen[name] = index
        product_types = _choices(item.get("product_types"), _join(path, "product_types"),
                                 problems, allowed=[p.value for p in ProductType],
                                 what="product types")
        payment_types = _choices(item.get("payment_types"), _join(path, "payment_types"),
                                 problems, allowed=[p.value for p in PaymentType],
                                 what="payment types")
        not_accepted_from = _aware_datetime(item.get("not_accepted_from"),
                                            _join(path, "not_accepted_from"), problems)
        description = _text(item.get("description"), _join(path, "description"), problems,
                            max_length=MAX_RULE_DESCRIPTION, required=False)
        if len(problems.errors) == errors_before:
            rules.append(PaymentRuleSpec(name=name, product_types=product_types,
                                         payment_types=payment_types,
                                         not_accepted_from=not_accepted_from,
                                         description=description))
    if problems.errors:
        raise AggregateInvalid(problems.errors)
    return PaymentRuleSpecs(rules)


# --- export ------------------------------------------------------------------------------------

def format_price(value: Decimal) -> str:
    """A price as the network writes it: plain notation, no trailing zeros ("0.000000977")."""
    return format(_strip_zeros(value), "f")


def format_price_grouped(value: Decimal) -> str:
    """`format_price` with thousands separators, for people ("1,234,567.5"), exact as well."""
    return f"{_strip_zeros(value):,f}"


def _price_section(product, field_names: dict[str, str]) -> dict:
    section = {}
    for key, field_name in field_names.items():
        value = getattr(product, field_name)
        if value is not None:
            section[key] = format_price(value)
    return section


def _product_to_aggregate(product, tiers: list) -> dict:
    price = {}
    compute_unit_price = _price_section(product, _CU_PRICE_FIELDS)
    if compute_unit_price:
        price["compute_unit"] = compute_unit_price
    storage = _price_section(product, _STORAGE_PRICE_FIELDS)
    if storage:
        price["storage"] = storage
    if product is not None and product.price_fixed_hold is not None:
        price["fixed"] = format_price(product.price_fixed_hold)
    entry: dict[str, Any] = {}
    if price:
        entry["price"] = price
    cu = {key: getattr(product, field_name) for key, field_name in _CU_FIELDS.items()
          if getattr(product, field_name) is not None}
    if cu:
        entry["compute_unit"] = cu
    if tiers:
        entry["tiers"] = []
        for tier in tiers:
            item: dict[str, Any] = {"id": tier.tier_id, "compute_units": tier.compute_units}
            if tier.model:
                item["model"] = tier.model
            if tier.vram_mib is not None:
                item["vram"] = tier.vram_mib
            entry["tiers"].append(item)
    return entry


class _NoProduct:
    """Stands in for a product row that is missing while tiers of its type exist."""

    def __getattr__(self, name):
        return None


def version_to_aggregate(version) -> dict:
    """A version's products and tiers in the network's pricing-aggregate shape.

    Prices are strings; a key is left out when its field is empty. Tiers of a product type
    without a product row are still exported, so a re-parse reports the missing prices.
    """
    products = {p.product_type: p for p in version.products.all()}
    tiers_by_type: dict[str, list] = {}
    for tier in version.tiers.all().order_by("compute_units", "tier_id"):
        tiers_by_type.setdefault(tier.product_type, []).append(tier)
    order = {p.value: i for i, p in enumerate(PRODUCT_ORDER)}
    product_types = sorted(set(products) | set(tiers_by_type),
                           key=lambda t: (order.get(t, len(order)), t))
    return {product_type: _product_to_aggregate(products.get(product_type, _NoProduct()),
                                                tiers_by_type.get(product_type, []))
            for product_type in product_types}


def version_to_compatible_gpus(version) -> list[dict]:
    """A version's GPU catalogue as the settings aggregate's `compatible_gpus` list."""
    gpus = []
    for device in version.gpu_devices.all().order_by("model", "device_id"):
        item = {"name": device.name, "model": device.model, "vendor": device.vendor,
                "device_id": device.device_id}
        if not device.name:
            del item["name"]
        gpus.append(item)
    return gpus


def payment_rule_to_document(rule) -> dict:
    """One payment rule (a model row or a PaymentRuleSpec) as the payment-rules document has it."""
    item: dict[str, Any] = {
        "name": rule.name, "product_types": list(rule.product_types),
        "payment_types": list(rule.payment_types),
        "not_accepted_from": rule.not_accepted_from.isoformat().replace("+00:00", "Z")}
    if rule.description:
        item["description"] = rule.description
    return item


def version_to_payment_rules(version) -> dict:
    """A version's payment rules as this service's document `{"payment_rules": [...]}` (the
    network keeps them in its code, not in an aggregate)."""
    rules = version.payment_rules.all().order_by("not_accepted_from", "name")
    return {"payment_rules": [payment_rule_to_document(rule) for rule in rules]}


def version_problems(version) -> list[str]:
    """What keeps a version from being published: its export re-parsed, every problem listed."""
    errors = []
    try:
        parse_price_aggregate(version_to_aggregate(version))
    except AggregateInvalid as exc:
        errors.extend(exc.errors)
    try:
        parse_compatible_gpus(version_to_compatible_gpus(version))
    except AggregateInvalid as exc:
        errors.extend(exc.errors)
    try:
        parse_payment_rules(version_to_payment_rules(version))
    except AggregateInvalid as exc:
        errors.extend(exc.errors)
    return errors


# --- engine tables -----------------------------------------------------------------------------

def _decimal(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else _ZERO


def _table_rates(price: dict | None) -> Rates:
    price = price or {}
    return Rates(hold=_decimal(price.get("holding")), payg_per_hour=_decimal(price.get("payg")),
                 credit_per_hour=_decimal(price.get("credit")))


def table_from_aggregate(aggregate: dict, compatible_gpus: Iterable[dict] = (),
                         version_id: int | None = None) -> PricingTable:
    """A pricing table straight from a (valid) aggregate: for tests, fixtures and benchmarks."""
    products = {}
    for product_type, spec in aggregate.items():
        price = spec.get("price", {})
        cu = spec.get("compute_unit")
        products[product_type] = ProductPricing(
            product_type=product_type,
            storage=_table_rates(price.get("storage")),
            compute_unit_price=(_table_rates(price["compute_unit"])
                                if "compute_unit" in price else None),
            compute_unit=ComputeUnit(vcpus=cu["vcpus"], memory_mib=cu["memory_mib"],
                                     disk_mib=cu["disk_mib"]) if cu else None,
            tiers=tuple(Tier(id=t["id"], compute_units=t["compute_units"], model=t.get("model"),
                             vram_mib=t.get("vram")) for t in spec.get("tiers") or ()),
            fixed_price=_decimal(price["fixed"]) if "fixed" in price else None,
        )
    gpu_models: dict[str, str] = {}
    for gpu in compatible_gpus:
        gpu_models.setdefault(gpu["device_id"], gpu["model"])
    return PricingTable(version_id=version_id, products=products, gpu_models=gpu_models)
