"""Decimal columns of money and rates: `numeric(38, 18)`, exact in PostgreSQL and in Python."""
from decimal import Decimal

from django.db import models

DECIMAL_PLACES = 18
MAX_DIGITS = 38


class ExactDecimalField(models.DecimalField):
    """A `DecimalField` with the service's precision: 38 digits, 18 of them after the point."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", MAX_DIGITS)
        kwargs.setdefault("decimal_places", DECIMAL_PLACES)
        super().__init__(*args, **kwargs)


def exact_sum(queryset, field_name: str) -> Decimal:
    """The sum of an ExactDecimalField (`numeric` in the database), 0 for no rows."""
    total = queryset.aggregate(total=models.Sum(field_name))["total"]
    return Decimal(total) if total is not None else Decimal(0)


def exact_sum_by(queryset, group_field: str | tuple[str, ...], field_name: str) -> dict:
    """`exact_sum` per value of `group_field` (per tuple of values, for a tuple of fields)."""
    group = (group_field,) if isinstance(group_field, str) else group_field
    rows = (queryset.order_by().values(*group)
            .annotate(total=models.Sum(field_name)).values_list(*group, "total"))
    if isinstance(group_field, str):
        return {key: Decimal(total or 0) for key, total in rows}
    return {tuple(key): Decimal(total or 0) for *key, total in rows}
