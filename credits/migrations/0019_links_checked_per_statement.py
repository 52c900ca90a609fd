"""The links of the rows a lifecycle run writes by the hundred thousand (ledger entries, lot
drains, status changes) are checked once per statement instead of once per row.

A database foreign key checks each inserted row with its own query (and a row lock on the row
it names) when the transaction commits: at a million resources that was 1.7 s of a run's commits
and 2.5 s of its database time. These links now carry no foreign key (like `Charge`'s, migration
0007) and are kept exactly as sound by triggers:
- every INSERT (and UPDATE) of the linking table is checked by one set-based query over the
  statement's new rows (a transition table): a link naming no row fails the statement
  (`foreign_key_violation`);
- a row that is named cannot be deleted (`foreign_key_violation`), as NO ACTION refused. The ORM
  still cascades, protects and sets to NULL first (`on_delete`), as before.
Rows named by a link are locked by the writes that link them (an entry's lots are drained, a
resource's status is moved by the same statement), so a delete racing a link waits for it and
then finds the link; ledger entries and drains are append-only.
The charges' delete guard of migration 0007 becomes a use of the same function.
"""
from importlib import import_module

import django.db.models.deletion
from django.db import migrations, models

CHECK_LINKS = """
CREATE OR REPLACE FUNCTION credits_check_links() RETURNS trigger AS $$
DECLARE
    i integer := 0;
    missing bigint;
BEGIN
    -- Arguments: pairs of (linking column, named table); the new rows are `new_rows`.
    WHILE i < TG_NARGS LOOP
        EXECUTE format('SELECT n.%1$I FROM new_rows n WHERE n.%1$I IS NOT NULL AND NOT EXISTS '
                       '(SELECT FROM %2$I p WHERE p.id = n.%1$I) LIMIT 1',
                       TG_ARGV[i], TG_ARGV[i + 1]) INTO missing;
        IF missing IS NOT NULL THEN
            RAISE EXCEPTION '%.% = % names no row of %',
                TG_TABLE_NAME, TG_ARGV[i], missing, TG_ARGV[i + 1]
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        i := i + 2;
    END LOOP;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
"""

REFUSE_LINKED_DELETE = """
CREATE OR REPLACE FUNCTION credits_refuse_linked_delete() RETURNS trigger AS $$
DECLARE
    i integer := 0;
    linked boolean;
BEGIN
    -- Arguments: pairs of (linking table, linking column).
    WHILE i < TG_NARGS LOOP
        EXECUTE format('SELECT EXISTS (SELECT FROM %I WHERE %I = $1)', TG_ARGV[i], TG_ARGV[i + 1])
            INTO linked USING OLD.id;
        IF linked THEN
            RAISE EXCEPTION '% % is named by %.%: it cannot be deleted',
                TG_TABLE_NAME, OLD.id, TG_ARGV[i], TG_ARGV[i + 1]
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        i := i + 2;
    END LOOP;
    RETURN OLD;
END
$$ LANGUAGE plpgsql;
"""

# (linking table, its links as (column, named table)).
LINKS = {
    "credits_ledgerentry": [("account_id", "credits_account"),
                            ("counterparty_id", "credits_account"),
                            ("resource_id", "credits_resource")],
    "credits_lotdrain": [("entry_id", "credits_ledgerentry"), ("lot_id", "credits_lot")],
    "credits_resourcestatuschange": [("resource_id", "credits_resource"),
                                     ("run_id", "credits_lifecyclerun")],
}
# (named table, the links that name it as (linking table, column)). Ledger entries are
# append-only (migration 0002): nothing deletes one.
NAMED_BY = {
    "credits_account": [("credits_ledgerentry", "account_id"),
                        ("credits_ledgerentry", "counterparty_id")],
    "credits_lot": [("credits_lotdrain", "lot_id")],
    "credits_resource": [("credits_charge", "resource_id"),
                         ("credits_ledgerentry", "resource_id"),
                         ("credits_resourcestatuschange", "resource_id")],
    "credits_lifecyclerun": [("credits_resourcestatuschange", "run_id")],
}


def _args(pairs) -> str:
    return ", ".join(f"'{a}', '{b}'" for a, b in pairs)


def create_triggers(apps, schema_editor):
    schema_editor.execute(CHECK_LINKS, params=None)  # % is not a placeholder
    schema_editor.execute(REFUSE_LINKED_DELETE, params=None)
    for table, links in LINKS.items():
        for event in ("INSERT", "UPDATE"):
            schema_editor.execute(
                f"CREATE TRIGGER {table}_links_{event.lower()} AFTER {event} ON {table} "
                f"REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
                f"EXECUTE FUNCTION credits_check_links({_args(links)});")
    schema_editor.execute(
        "DROP TRIGGER IF EXISTS credits_resource_keep_charged ON credits_resource;")
    schema_editor.execute("DROP FUNCTION IF EXISTS credits_refuse_charged_resource_delete();")
    for table, named_by in NAMED_BY.items():
        schema_editor.execute(
            f"CREATE TRIGGER {table}_keep_linked BEFORE DELETE ON {table} FOR EACH ROW "
            f"EXECUTE FUNCTION credits_refuse_linked_delete({_args(named_by)});")


def drop_triggers(apps, schema_editor):
    for table in NAMED_BY:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_keep_linked ON {table};")
    for table in LINKS:
        for event in ("insert", "update"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_links_{event} ON {table};")
    schema_editor.execute("DROP FUNCTION IF EXISTS credits_refuse_linked_delete();")
    schema_editor.execute("DROP FUNCTION IF EXISTS credits_check_links();")
    charged = import_module("credits.migrations.0007_charge_links_without_foreign_keys")
    schema_editor.execute(charged.REFUSE_CHARGED_RESOURCE_DELETE, params=None)
    schema_editor.execute(
        "CREATE TRIGGER credits_resource_keep_charged BEFORE DELETE ON credits_resource "
        "FOR EACH ROW EXECUTE FUNCTION credits_refuse_charged_resource_delete();")


class Migration(migrations.Migration):

    dependencies = [
        ('credits', '0018_account_alerts'),
    ]

    operations = [
        migrations.AlterField(
            model_name='ledgerentry',
            name='account',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='entries', to='credits.account'),
        ),
        migrations.AlterField(
            model_name='ledgerentry',
            name='counterparty',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='credits.account'),
        ),
        migrations.AlterField(
            model_name='ledgerentry',
            name='resource',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='ledger_entries', to='credits.resource'),
        ),
        migrations.AlterField(
            model_name='lotdrain',
            name='entry',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.PROTECT, related_name='drains', to='credits.ledgerentry'),
        ),
        migrations.AlterField(
            model_name='lotdrain',
            name='lot',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.PROTECT, related_name='drains', to='credits.lot'),
        ),
        migrations.AlterField(
            model_name='resourcestatuschange',
            name='resource',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='status_changes', to='credits.resource'),
        ),
        migrations.AlterField(
            model_name='resourcestatuschange',
            name='run',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='status_changes', to='credits.lifecyclerun'),
        ),
        migrations.RunPython(create_triggers, drop_triggers, elidable=False),
    ]
