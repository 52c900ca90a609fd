"""A decimal column that stays exact on every database.

PostgreSQL stores `numeric(38, 18)`. SQLite (the quick start) would turn a decimal column into a
float and keep 15 digits, which breaks prices such as 0.17967489030626108; there it is text.
"""
from decimal import Decimal

from django.db import connections, models

DECIMAL_PLACES = 18
MAX_DIGITS = 38


class ExactDecimalField(models.DecimalField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", MAX_DIGITS)
        kwargs.setdefault("decimal_places", DECIMAL_PLACES)
        super().__init__(*args, **kwargs)

    def get_internal_type(self):
        # Not "DecimalField": the SQLite backend would convert through a 15-digit float.
        return "ExactDecimalField"

    def db_type(self, connection):
        if connection.vendor == "sqlite":
            return "text"
        return f"numeric({self.max_digits}, {self.decimal_places})"

    def get_db_converters(self, connection):
        if connection.vendor == "sqlite":
            return [self._from_sqlite_text, *super().get_db_converters(connection)]
        return super().get_db_converters(connection)

    @staticmethod
    def _from_sqlite_text(value, expression, connection):
        if value is None:
            return None
        return Decimal(str(value))

    def get_db_prep_value(self, value, connection, prepared=False):
        value = super().get_db_prep_value(value, connection, prepared)
        if connection.vendor == "sqlite" and value is not None:
            return format(Decimal(value), "f")
        return value


def _on_sqlite(queryset) -> bool:
    return connections[queryset.db].vendor == "sqlite"


def exact_sum(queryset, field_name: str) -> Decimal:
    """The sum of an ExactDecimalField, exact on every database.

    SQLite stores these as text and its SUM() goes through floats (a funded account could be
    refused by a few 1e-17): there the values are added as Decimals instead.
    """
    if _on_sqlite(queryset):
        return sum((Decimal(value) for value in queryset.values_list(field_name, flat=True)
                    if value is not None), Decimal(0))
    total = queryset.aggregate(total=models.Sum(field_name))["total"]
    return Decimal(total) if total is not None else Decimal(0)


def exact_sum_by(queryset, group_field: str, field_name: str) -> dict:
    """`exact_sum` per value of `group_field`."""
    if _on_sqlite(queryset):
        totals: dict = {}
        for group, value in queryset.values_list(group_field, field_name):
            totals[group] = totals.get(group, Decimal(0)) + Decimal(value or 0)
        return totals
    rows = (queryset.order_by().values(group_field)
            .annotate(total=models.Sum(field_name)).values_list(group_field, "total"))
    return {group: Decimal(total or 0) for group, total in rows}
