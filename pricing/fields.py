"""A decimal column that stays exact on every database.

PostgreSQL stores `numeric(38, 18)`. SQLite (the quick start) would turn a decimal column into a
float and keep 15 digits, which breaks prices such as 0.17967489030626108; there it is text.
"""
from decimal import Decimal

from django.db import models

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
