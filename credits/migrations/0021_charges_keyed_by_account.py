"""Charges keyed by (hour, account, resource): a run's batches, accounts in id order, append their
charges one after the other to the hour's part of the primary key instead of inserting them all
over it (keyed by resource alone, the cost of a charge grew with the number of resources).

- `credits_charge.account_id`: the account charged, the resource's owner (existing charges: the
  resource's owner; a charge whose resource is gone, a drift `check_ledger` reports: its entry's
  account, else 0). The append-only trigger is set aside for that one UPDATE.
- The primary key (hour, account_id, resource_id) replaces (hour, resource_id).
- A resource's owner cannot change (`credits_resource_owner_fixed`): the new key is unique
  exactly when the old one was.
"""
import django.db.models.deletion
from django.db import migrations, models

_FORWARD = """
    ALTER TABLE credits_charge ADD COLUMN account_id bigint NULL;
    ALTER TABLE credits_charge DISABLE TRIGGER credits_charge_append_only;
    UPDATE credits_charge c SET account_id = r.owner_id
    FROM credits_resource r WHERE r.id = c.resource_id;
    UPDATE credits_charge c SET account_id = e.account_id
    FROM credits_ledgerentry e WHERE c.account_id IS NULL AND e.id = c.entry_id;
    UPDATE credits_charge SET account_id = 0 WHERE account_id IS NULL;
    ALTER TABLE credits_charge ENABLE TRIGGER credits_charge_append_only;
    ALTER TABLE credits_charge ALTER COLUMN account_id SET NOT NULL;
    ALTER TABLE credits_charge DROP CONSTRAINT credits_charge_pkey;
    ALTER TABLE credits_charge ADD CONSTRAINT credits_charge_pkey
        PRIMARY KEY (hour, account_id, resource_id);

    CREATE FUNCTION credits_refuse_owner_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'resource % belongs to account % and cannot change owner',
            OLD.id, OLD.owner_id
            USING ERRCODE = 'integrity_constraint_violation';
    END $$;
    CREATE TRIGGER credits_resource_owner_fixed BEFORE UPDATE OF owner_id ON credits_resource
    FOR EACH ROW WHEN (OLD.owner_id IS DISTINCT FROM NEW.owner_id)
    EXECUTE FUNCTION credits_refuse_owner_change();
"""

_BACKWARD = """
    DROP TRIGGER credits_resource_owner_fixed ON credits_resource;
    DROP FUNCTION credits_refuse_owner_change();
    ALTER TABLE credits_charge DROP CONSTRAINT credits_charge_pkey;
    ALTER TABLE credits_charge ADD CONSTRAINT credits_charge_pkey PRIMARY KEY (hour, resource_id);
    ALTER TABLE credits_charge DROP COLUMN account_id;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('credits', '0020_lean_resource_indexes'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(_FORWARD, _BACKWARD)],
            state_operations=[
                migrations.AddField(
                    model_name='charge',
                    name='account',
                    field=models.ForeignKey(db_constraint=False, db_index=False, default=None, help_text="The account charged: the resource's owner.", on_delete=django.db.models.deletion.PROTECT, related_name='+', to='credits.account'),
                    preserve_default=False,
                ),
                migrations.AlterField(
                    model_name='charge',
                    name='pk',
                    field=models.CompositePrimaryKey('hour', 'account_id', 'resource_id', blank=True, editable=False, primary_key=True, serialize=False),
                ),
            ],
        ),
    ]
