"""Heap-only flags: a flag or a restore of a resource (status, deadline) writes no index entry.

`status` and `delete_after` leave every index of the resource table: the owner's index loses
`status`, the lifecycle's index says "live" with `ended_at IS NULL` (a check constraint holds
the two to each other) and includes neither, the hold/stream index loses `status`, and the
`(status, delete_after)` index goes. The deadlines of the resources pending deletion move to
the narrow `credits_resourcegrace`, kept by triggers on the resource table whatever writes it
(the lifecycle, the operators' desk, a test, a bulk load), and the table leaves 15 % of each
page free so that PostgreSQL can write a changed row in its own page (a heap-only update).
Rows written before keep their full pages until rewritten (`VACUUM FULL credits_resource`,
once, in a maintenance window: it locks the table).
"""

import django.db.models.deletion
from django.db import migrations, models

GRACE_SYNC_SQL = """
CREATE FUNCTION credits_resource_grace_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'DELETE' AND NEW.status = 'removing' THEN
        INSERT INTO credits_resourcegrace (resource_id, owner_id, delete_after)
        VALUES (NEW.id, NEW.owner_id, NEW.delete_after)
        ON CONFLICT (resource_id) DO UPDATE
            SET owner_id = EXCLUDED.owner_id, delete_after = EXCLUDED.delete_after;
    ELSIF TG_OP <> 'INSERT' AND OLD.status = 'removing' THEN
        DELETE FROM credits_resourcegrace WHERE resource_id = OLD.id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER credits_resource_grace_insert AFTER INSERT ON credits_resource
    FOR EACH ROW WHEN (NEW.status = 'removing')
    EXECUTE FUNCTION credits_resource_grace_sync();
CREATE TRIGGER credits_resource_grace_update
    AFTER UPDATE OF status, delete_after, owner_id ON credits_resource
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                       OR OLD.delete_after IS DISTINCT FROM NEW.delete_after
                       OR OLD.owner_id IS DISTINCT FROM NEW.owner_id)
    EXECUTE FUNCTION credits_resource_grace_sync();
CREATE TRIGGER credits_resource_grace_delete AFTER DELETE ON credits_resource
    FOR EACH ROW WHEN (OLD.status = 'removing')
    EXECUTE FUNCTION credits_resource_grace_sync();
INSERT INTO credits_resourcegrace (resource_id, owner_id, delete_after)
SELECT id, owner_id, delete_after FROM credits_resource WHERE status = 'removing';
ALTER TABLE credits_resource SET (fillfactor = 85);
"""

GRACE_SYNC_REVERSE_SQL = """
ALTER TABLE credits_resource RESET (fillfactor);
DROP TRIGGER credits_resource_grace_delete ON credits_resource;
DROP TRIGGER credits_resource_grace_update ON credits_resource;
DROP TRIGGER credits_resource_grace_insert ON credits_resource;
DROP FUNCTION credits_resource_grace_sync();
DELETE FROM credits_resourcegrace;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('credits', '0021_charges_keyed_by_account'),
        ('pricing', '0007_default_payment_rules'),
    ]

    operations = [
        migrations.CreateModel(
            name='ResourceGrace',
            fields=[
                ('resource', models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='grace', serialize=False, to='credits.resource')),
                ('delete_after', models.DateTimeField()),
            ],
        ),
        migrations.RemoveIndex(
            model_name='resource',
            name='resource_owner_status',
        ),
        migrations.RemoveIndex(
            model_name='resource',
            name='resource_status_deadline',
        ),
        migrations.RemoveIndex(
            model_name='resource',
            name='resource_lifecycle',
        ),
        migrations.RemoveIndex(
            model_name='resource',
            name='resource_payment_status',
        ),
        migrations.AddIndex(
            model_name='resource',
            index=models.Index(fields=['owner'], name='resource_owner'),
        ),
        migrations.AddIndex(
            model_name='resource',
            index=models.Index(condition=models.Q(('payment_type', 'credit'), _negated=True), fields=['payment_type'], name='resource_payment'),
        ),
        migrations.AddIndex(
            model_name='resource',
            index=models.Index(condition=models.Q(('ended_at__isnull', True)), fields=['owner', 'created_at', 'id'], include=('payment_type', 'payment_chain', 'cost_credit_per_second', 'cost_hold', 'pricing_version'), name='resource_lifecycle'),
        ),
        migrations.AddConstraint(
            model_name='resource',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('status__in', ('processed', 'removing')), ('ended_at__isnull', True)), models.Q(models.Q(('status__in', ('processed', 'removing')), _negated=True), ('ended_at__isnull', False)), _connector='OR'), name='resource_live_until_ended'),
        ),
        migrations.AddField(
            model_name='resourcegrace',
            name='owner',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='graces', to='credits.account'),
        ),
        migrations.AddIndex(
            model_name='resourcegrace',
            index=models.Index(fields=['delete_after', 'resource'], name='grace_deadline'),
        ),
        migrations.RunSQL(GRACE_SYNC_SQL, GRACE_SYNC_REVERSE_SQL),
    ]
