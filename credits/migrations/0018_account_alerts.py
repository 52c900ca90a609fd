"""Account alerts: the state of `account.runway_low` (the lowest threshold announced, on the
account) and of `account.credits_expiring` (when a lot was noticed, with a partial index of the
lots not yet noticed), the new event types (and `resource.grace_extended`), and the runway rule
as an ordered aggregate, `credits_runway_seconds`, that `selectors.ledger.account_runway_hours`
and the lifecycle both use (`selectors.ledger.runway_hours_sql`).

The runway walks an account's spendable lots soonest-expiring first, spending them at the rate:
after lot k the credits cover `covered_k = max(covered_{k-1}, min(covered_{k-1} + credits_k /
rate, seconds_left_k))` seconds (a lot expiring before the earlier ones are spent adds nothing;
one that would outlast its expiry adds up to its expiry; what it holds then is lost), with
`seconds_left` infinite for a lot that never expires. The division keeps 40 decimals (enough for
the floor to hundredths of an hour to be exact for credits up to 10**15 and rates of 18
decimals; held against exact fractions by tests/credits/test_runway.py).
"""
import django.contrib.postgres.fields
from django.db import migrations, models

RUNWAY_SQL = """
CREATE FUNCTION credits_runway_step(covered numeric, credits numeric, rate numeric,
                                    seconds_left numeric)
RETURNS numeric LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT GREATEST(covered,
                    LEAST(covered + CAST(credits AS numeric(1000, 40)) / rate, seconds_left))
$$;
COMMENT ON FUNCTION credits_runway_step(numeric, numeric, numeric, numeric) IS
    'One lot of the runway walk (migration credits 0018).';
CREATE AGGREGATE credits_runway_seconds(numeric, numeric, numeric) (
    SFUNC = credits_runway_step, STYPE = numeric, INITCOND = '0');
COMMENT ON AGGREGATE credits_runway_seconds(numeric, numeric, numeric) IS
    'Seconds an account''s spendable lots (credits, rate per second, seconds left or Infinity), '
    'ordered soonest expiry first, pay for at the rate (migration credits 0018).';
"""
RUNWAY_REVERSE_SQL = """
DROP AGGREGATE credits_runway_seconds(numeric, numeric, numeric);
DROP FUNCTION credits_runway_step(numeric, numeric, numeric, numeric);
"""


class Migration(migrations.Migration):

    dependencies = [
        ('credits', '0017_events_webhooks'),
    ]

    operations = [
        migrations.RunSQL(RUNWAY_SQL, RUNWAY_REVERSE_SQL),
        migrations.AddField(
            model_name='account',
            name='runway_alert_hours',
            field=models.PositiveSmallIntegerField(blank=True, editable=False, help_text='The lowest runway threshold (hours) already announced by `account.runway_low`: thresholds at or above it are not announced again until a top-up re-arms them. Empty: every threshold is armed.', null=True),
        ),
        migrations.AddField(
            model_name='lot',
            name='expiry_noticed_at',
            field=models.DateTimeField(blank=True, editable=False, help_text='When the lifecycle found the lot within EVENTS_CREDITS_EXPIRING_DAYS of its expiry (or past it), and announced it by `account.credits_expiring` if it still held credits. Set once.', null=True),
        ),
        migrations.AlterField(
            model_name='event',
            name='type',
            field=models.CharField(choices=[('resource.registered', 'resource.registered'), ('resource.flagged', 'resource.flagged'), ('resource.restored', 'resource.restored'), ('resource.removed', 'resource.removed'), ('resource.forgotten', 'resource.forgotten'), ('resource.grace_extended', 'resource.grace_extended'), ('account.runway_low', 'account.runway_low'), ('account.credits_expiring', 'account.credits_expiring'), ('lifecycle.run_finished', 'lifecycle.run_finished')], max_length=32),
        ),
        migrations.AlterField(
            model_name='webhookendpoint',
            name='event_types',
            field=django.contrib.postgres.fields.ArrayField(base_field=models.CharField(choices=[('resource.registered', 'resource.registered'), ('resource.flagged', 'resource.flagged'), ('resource.restored', 'resource.restored'), ('resource.removed', 'resource.removed'), ('resource.forgotten', 'resource.forgotten'), ('resource.grace_extended', 'resource.grace_extended'), ('account.runway_low', 'account.runway_low'), ('account.credits_expiring', 'account.credits_expiring'), ('lifecycle.run_finished', 'lifecycle.run_finished')], max_length=32), blank=True, default=list, help_text='Empty: every event type.', size=None),
        ),
        migrations.AddIndex(
            model_name='lot',
            index=models.Index(condition=models.Q(('expires_at__isnull', False), ('expiry_noticed_at__isnull', True)), fields=['expires_at'], name='lot_expiry_notice_due'),
        ),
    ]
