"""The lifecycle's temporary tables (`credits.temp_tables.temp`): made once per session, emptied
by each commit, analysed again only when their size changes a lot, never holding two fillings."""
import pytest
from django.db import connection, transaction

from credits.temp_tables import REANALYSE_FACTOR, temp

# Real commits: the tables are emptied by them. serialized_rollback: a plain flush would
# re-create content types that the next serialized_rollback test restores again, and collide.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

_NUMBERS = "SELECT g AS n FROM generate_series(1, %(n)s) g"


@pytest.fixture(autouse=True)
def no_temp_tables():
    with connection.cursor() as cursor:
        cursor.execute("DISCARD TEMP")
    yield
    with connection.cursor() as cursor:
        cursor.execute("DISCARD TEMP")


def _table(cursor) -> tuple[int, float, int]:
    """The table's oid, its analysed row count (pg_class) and the rows it holds now."""
    cursor.execute("SELECT oid, reltuples FROM pg_class "
                   "WHERE oid = to_regclass('pg_temp.t_numbers')")
    oid, analysed = cursor.fetchone()
    cursor.execute("SELECT count(*) FROM t_numbers")
    return oid, analysed, cursor.fetchone()[0]


def _fill(n: int) -> tuple[int, tuple[int, float, int]]:
    """Fill the table with n rows in a transaction of its own: what `temp` returned and the
    table as it was before the commit."""
    with transaction.atomic(), connection.cursor() as cursor:
        returned = temp(cursor, "t_numbers", _NUMBERS, {"n": n})
        return returned, _table(cursor)


def _rows_after_commit() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM t_numbers")
        return cursor.fetchone()[0]


def test_a_table_is_made_once_analysed_and_emptied_by_each_commit():
    returned, (oid, analysed, rows) = _fill(100)
    assert (returned, analysed, rows) == (100, 100, 100)
    assert _rows_after_commit() == 0

    returned, (oid_again, analysed, rows) = _fill(120)

    assert (returned, rows) == (120, 120)
    assert oid_again == oid  # not made again
    assert analysed == 100  # nor analysed again: alike in size
    assert _rows_after_commit() == 0


@pytest.mark.parametrize("then", [100 * REANALYSE_FACTOR + 1, 100 // REANALYSE_FACTOR - 1])
def test_a_filling_much_larger_or_smaller_than_the_analysed_one_is_analysed_again(then):
    _fill(100)

    _, (_, analysed, rows) = _fill(then)

    assert analysed == rows == then


def test_a_filling_within_the_factor_keeps_the_statistics():
    _fill(100)

    _, (_, analysed, _) = _fill(100 * REANALYSE_FACTOR)

    assert analysed == 100


def test_a_table_filled_twice_in_one_transaction_holds_the_second_filling_alone():
    with transaction.atomic(), connection.cursor() as cursor:
        temp(cursor, "t_numbers", _NUMBERS, {"n": 100})
        first_oid, _, _ = _table(cursor)

        returned = temp(cursor, "t_numbers", _NUMBERS, {"n": 30})
        oid, analysed, rows = _table(cursor)

    assert (returned, rows, analysed) == (30, 30, 30)
    assert oid != first_oid  # made afresh: the first filling's dead rows are gone with it


def test_a_filling_rolled_back_leaves_the_table_usable():
    _fill(100)
    with pytest.raises(RuntimeError), transaction.atomic(), connection.cursor() as cursor:
        temp(cursor, "t_numbers", _NUMBERS, {"n": 50})
        raise RuntimeError("the batch failed")

    returned, (_, _, rows) = _fill(70)

    assert returned == rows == 70


def test_a_filling_outside_a_transaction_is_refused():
    # In autocommit the table would be emptied before anything read it.
    with connection.cursor() as cursor, pytest.raises(RuntimeError, match="one transaction"):
        temp(cursor, "t_numbers", _NUMBERS, {"n": 5})
