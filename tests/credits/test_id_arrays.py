"""Many ids as one SQL parameter (`IdArray`): what PostgreSQL receives is the ids given, in their
order, as one `bigint[]` literal."""
import pytest
from django.db import connection

from credits.id_arrays import IdArray

pytestmark = pytest.mark.django_db


def _select(sql: str, ids: IdArray) -> tuple[list, str]:
    with connection.cursor() as cursor:
        cursor.execute(sql, [ids])
        rows = [row[0] for row in cursor.fetchall()]
        return rows, cursor.cursor.query.decode()


def test_the_ids_arrive_in_their_order_as_one_literal():
    ids = IdArray([3, 1, 2**62, -7, 1])

    rows, sent = _select("SELECT unnest(%s) AS id", ids)

    assert rows == [3, 1, 2**62, -7, 1]
    assert sent == "SELECT unnest('{3,1,4611686018427387904,-7,1}'::bigint[]) AS id"


def test_no_ids_match_nothing():
    rows, _ = _select("SELECT g FROM generate_series(1, 3) g WHERE g = ANY(%s)", IdArray([]))

    assert rows == []


def test_an_id_that_is_not_an_integer_is_refused_before_any_sql():
    with pytest.raises(ValueError):
        IdArray(["1}'; DROP TABLE credits_account; --"])
