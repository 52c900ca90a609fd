"""The outbox: events announcing what the service decided (a resource registered, flagged,
restored, removed or forgotten; a lifecycle run finished), written in the transaction of the
change they announce, and the positions the dispatcher and the pruning have reached.

An event's place in the feed is (`xid`, `id`): the transaction that wrote it, then its id. Ids
come from a sequence and commit out of order; a transaction id below the oldest transaction still
running (`pg_snapshot_xmin`) can no longer gain events, so the feed serves only those and never
skips one (see `credits.selectors.events`).
"""
from django.db import models
from django.db.models import BigIntegerField, Func

from .accounts import Account
from .resources import Resource

EVENT_ID_PREFIX = "evt_"


class EventType(models.TextChoices):
    """What an event announces. Labels are the values: pages and the API show them as they are."""

    RESOURCE_REGISTERED = "resource.registered", "resource.registered"
    RESOURCE_FLAGGED = "resource.flagged", "resource.flagged"
    RESOURCE_RESTORED = "resource.restored", "resource.restored"
    RESOURCE_REMOVED = "resource.removed", "resource.removed"
    RESOURCE_FORGOTTEN = "resource.forgotten", "resource.forgotten"
    RESOURCE_GRACE_EXTENDED = "resource.grace_extended", "resource.grace_extended"
    ACCOUNT_RUNWAY_LOW = "account.runway_low", "account.runway_low"
    ACCOUNT_CREDITS_EXPIRING = "account.credits_expiring", "account.credits_expiring"
    LIFECYCLE_RUN_FINISHED = "lifecycle.run_finished", "lifecycle.run_finished"


# The writing transaction's id, as a number (xid8 has no cast to bigint but through text). xid8
# counts from the cluster's creation and never wraps around.
CURRENT_XID = Func(template="(pg_current_xact_id()::text::bigint)", output_field=BigIntegerField())


class Event(models.Model):
    """One event of the outbox: its type, when it happened, the version of its payload's schema,
    the account it concerns (None: the operators' events, e.g. a run finished), the resource,
    and its payload (`data` in the feed and the webhooks), as documented in docs/api.md.

    The lifecycle writes a batch's events in the statement that moves the resources, so the
    table keeps to three B-tree indexes (the key, the feed's order, an owner's feed) and no
    foreign key is checked per row: `account` and `resource` name rows the same statement has
    just read or moved under their locks, resources and accounts are never deleted while they
    have history (their ledger entries and audit rows protect them), and an event is a record
    of the past that must outlive whatever it names.
    """

    xid = models.BigIntegerField(db_default=CURRENT_XID, editable=False,
                                 help_text="The transaction that wrote it (the feed's order).")
    type = models.CharField(max_length=32, choices=EventType.choices)
    schema_version = models.PositiveSmallIntegerField(default=1)
    occurred_at = models.DateTimeField()
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.DO_NOTHING,
                                related_name="+", db_index=False, db_constraint=False)
    resource = models.ForeignKey(Resource, null=True, blank=True, on_delete=models.DO_NOTHING,
                                 related_name="+", db_index=False, db_constraint=False)
    payload = models.JSONField()

    class Meta:
        ordering = ["xid", "id"]
        indexes = [
            models.Index(fields=["xid", "id"], name="event_feed"),
            models.Index(fields=["account", "xid", "id"], name="event_account_feed"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.type}"

    @property
    def public_id(self) -> str:
        """The id the feed and the webhooks give (`webhook-id`): the same on every retry."""
        return f"{EVENT_ID_PREFIX}{self.pk}"


class OutboxState(models.Model):
    """One row: how far the dispatcher has fanned events out to webhook endpoints, and up to
    where old events were pruned (a feed cursor before it has expired). Positions are
    (xid, event id), as in the feed."""

    dispatched_xid = models.BigIntegerField(default=0)
    dispatched_event_id = models.BigIntegerField(default=0)
    pruned_xid = models.BigIntegerField(default=0)
    pruned_event_id = models.BigIntegerField(default=0)
    pruned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "outbox state"
        constraints = [models.CheckConstraint(name="outbox_state_single_row",
                                              condition=models.Q(id=1))]
