"""On PostgreSQL the database itself refuses UPDATE and DELETE of ledger rows and lot drains.

(TRUNCATE stays possible: test databases are flushed with it.)
"""
from django.db import migrations

APPEND_ONLY_TABLES = ("credits_ledgerentry", "credits_lotdrain")

CREATE_FUNCTION = """
CREATE OR REPLACE FUNCTION credits_refuse_ledger_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'credits ledger rows are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$ LANGUAGE plpgsql;
"""


def create_triggers(apps, schema_editor):
    schema_editor.execute(CREATE_FUNCTION, params=None)  # its % are not placeholders
    for table in APPEND_ONLY_TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION credits_refuse_ledger_change();")


def drop_triggers(apps, schema_editor):
    for table in APPEND_ONLY_TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
    schema_editor.execute("DROP FUNCTION IF EXISTS credits_refuse_ledger_change();")


class Migration(migrations.Migration):
    dependencies = [("credits", "0001_initial")]

    operations = [migrations.RunPython(create_triggers, drop_triggers, elidable=False)]
