"""`ResourceGrace` is kept once per statement instead of once per row.

The row triggers of migration 0022 ran a PL/pgSQL function and one INSERT or DELETE for each
resource flagged or restored: 14 µs of the 55 µs a flag costs a lifecycle run at a million
resources (a quarter of its flagging statements). The triggers now run once per statement over
the statement's old and new rows (transition tables, as the link checks of migration 0019): one
DELETE of the grace rows of the resources that left "removing", one INSERT … ON CONFLICT of
those of the resources in it (a moved deadline updated, an unchanged one left alone). Still
whatever writes the resource table: the lifecycle, the operators' desk, a test, a bulk load.

A statement trigger with transition tables cannot name the columns it watches: every UPDATE of
the resource table keeps its rows in memory for the trigger (or on disk past `work_mem`), and the
trigger's two statements read them. The writes of the resource table are the lifecycle's moves
and, a thousand rows at a time, the cost recalculation's; a resource's owner never changes
(`credits_resource_owner_fixed`), so a grace row's owner is written once.
"""
from importlib import import_module

from django.db import migrations

GRACE_SYNC_SQL = """
DROP TRIGGER credits_resource_grace_delete ON credits_resource;
DROP TRIGGER credits_resource_grace_update ON credits_resource;
DROP TRIGGER credits_resource_grace_insert ON credits_resource;
DROP FUNCTION credits_resource_grace_sync();
CREATE FUNCTION credits_resource_grace_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Each trigger sees only its own transition tables: a DELETE has no new rows, an INSERT
    -- no old ones (PL/pgSQL plans a statement when it first runs it, per trigger).
    IF TG_OP = 'DELETE' THEN
        DELETE FROM credits_resourcegrace g USING old_rows o
        WHERE g.resource_id = o.id AND o.status = 'removing';
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM credits_resourcegrace g USING old_rows o
        WHERE g.resource_id = o.id AND o.status = 'removing'
          AND NOT EXISTS (SELECT FROM new_rows n WHERE n.id = o.id AND n.status = 'removing');
    END IF;
    INSERT INTO credits_resourcegrace AS g (resource_id, owner_id, delete_after)
    SELECT n.id, n.owner_id, n.delete_after FROM new_rows n WHERE n.status = 'removing'
    ON CONFLICT (resource_id) DO UPDATE SET delete_after = EXCLUDED.delete_after
        WHERE g.delete_after IS DISTINCT FROM EXCLUDED.delete_after;
    RETURN NULL;
END $$;
CREATE TRIGGER credits_resource_grace_insert AFTER INSERT ON credits_resource
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION credits_resource_grace_sync();
CREATE TRIGGER credits_resource_grace_update AFTER UPDATE ON credits_resource
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION credits_resource_grace_sync();
CREATE TRIGGER credits_resource_grace_delete AFTER DELETE ON credits_resource
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION credits_resource_grace_sync();
"""

# Back to migration 0022's row triggers: its function and triggers, not its last statements
# (they fill the table and set the fill factor, which this migration leaves as they are).
_PER_ROW = import_module("credits.migrations.0022_heap_only_flags").GRACE_SYNC_SQL
_PER_ROW_FILL = "INSERT INTO credits_resourcegrace (resource_id, owner_id, delete_after)\nSELECT"
assert _PER_ROW.count(_PER_ROW_FILL) == 1
GRACE_SYNC_REVERSE_SQL = GRACE_SYNC_SQL.split("CREATE FUNCTION")[0] + \
    _PER_ROW.split(_PER_ROW_FILL)[0]


class Migration(migrations.Migration):

    dependencies = [
        ('credits', '0022_heap_only_flags'),
    ]

    operations = [
        migrations.RunSQL(GRACE_SYNC_SQL, GRACE_SYNC_REVERSE_SQL),
    ]
