"""Query validation and answer shapes of the operators' lifecycle endpoints: pending deletions
and lifecycle runs. Amounts are decimal strings (credits: whole numbers as strings of digits)."""
from rest_framework import serializers

from pricing.enums import PaymentType
from pricing.serializers import Amount

from ..addresses import InvalidAddress, normalize_address
from ..models import LifecycleRunStatus, LifecycleTrigger, RemovalReason
from .ledger import AwareDateTimeField, Credits, CursorField

DEFAULT_PAGE_LIMIT = 50
MAX_PAGE_LIMIT = 200


class _PageQuerySerializer(serializers.Serializer):
    cursor = CursorField(required=False)
    limit = serializers.IntegerField(required=False, min_value=1, default=DEFAULT_PAGE_LIMIT)

    def validate_limit(self, value: int) -> int:
        # A larger page is capped, not refused: the client just gets fewer rows per page.
        return min(value, MAX_PAGE_LIMIT)


class PendingDeletionsQuerySerializer(_PageQuerySerializer):
    reason = serializers.ChoiceField(choices=RemovalReason.choices, required=False)
    payment_type = serializers.ChoiceField(choices=PaymentType.choices, required=False)
    owner = serializers.CharField(required=False, max_length=128,
                                  help_text="Only this owner's resources (any case).")
    due_before = AwareDateTimeField(required=False)

    def validate_owner(self, value: str) -> str:
        try:
            return normalize_address(value)
        except InvalidAddress as exc:
            raise serializers.ValidationError(str(exc)) from exc


class LifecycleRunsQuerySerializer(_PageQuerySerializer):
    pass


# --- answers -----------------------------------------------------------------------------------

class PendingDeletionSerializer(serializers.Serializer):
    item_hash = serializers.CharField()
    type = serializers.CharField(help_text="INSTANCE, PROGRAM or STORE.")
    owner = serializers.CharField(help_text="The owner's address.")
    payment_type = serializers.ChoiceField(choices=PaymentType.choices)
    payment_chain = serializers.CharField(allow_blank=True)
    reason = serializers.ChoiceField(choices=RemovalReason.choices,
                                     help_text="Why it was flagged.")
    removing_since = serializers.DateTimeField()
    delete_after = serializers.DateTimeField(help_text="The first run at or after this instant "
                                                       "removes it.")
    seconds_left = serializers.IntegerField(help_text="Whole seconds until delete_after, 0 "
                                                      "once it has passed.")
    overdue = serializers.BooleanField(help_text="delete_after has passed: the next run "
                                                 "removes it.")
    shortfall = Amount(allow_null=True,
                       help_text="What the owner lacks to fund all its live resources of this "
                                 "payment type (18 decimals; 0 when funded): credits for one "
                                 "funding horizon of its credit-paid resources minus its "
                                 "credits now, or, for hold, tokens locked by its hold-paid "
                                 "resources on this chain minus its token balance there. null "
                                 "for streams (not checked).")
    shortfall_unit = serializers.ChoiceField(choices=["credits", "tokens"], allow_null=True)
    required = Amount(allow_null=True, help_text="What the owner must have (same unit).")
    available = Amount(allow_null=True, help_text="What the owner has (same unit).")


class PendingDeletionsResponseSerializer(serializers.Serializer):
    results = PendingDeletionSerializer(many=True)
    at = serializers.DateTimeField(help_text="The instant of the countdowns and shortfalls.")
    funding_horizon_hours = serializers.IntegerField(
        help_text="Hours of cost the credit shortfall funds (lifecycle settings).")
    limit = serializers.IntegerField(help_text="The page size used (capped).")
    next_cursor = serializers.CharField(allow_null=True, help_text="Pass as `cursor` for the "
                                                                   "next page.")
    next = serializers.CharField(allow_null=True, help_text="The next page's URL.")


class LifecycleRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True, help_text="null while running.")
    duration_seconds = serializers.FloatField(allow_null=True,
                                              help_text="finished_at − started_at.")
    as_of = serializers.DateTimeField(help_text="The instant the run evaluated.")
    trigger = serializers.ChoiceField(choices=LifecycleTrigger.choices,
                                      help_text="What started the run.")
    dry_run = serializers.BooleanField()
    status = serializers.ChoiceField(choices=LifecycleRunStatus.choices)
    parent = serializers.IntegerField(allow_null=True,
                                      help_text="A shard: the id of its sharded run.")
    shard_index = serializers.IntegerField(allow_null=True,
                                           help_text="A shard: its index (from 0).")
    shard_count = serializers.IntegerField(help_text="1, or the number of shards of the run.")
    accounts = serializers.IntegerField(help_text="Accounts with live resources seen.")
    resources = serializers.IntegerField(help_text="Live resources seen.")
    charges = serializers.IntegerField(help_text="Resource-hours charged.")
    credits_charged = Credits(help_text="Credits drained by metering.")
    credits_short = Credits(help_text="Credits metered but not covered (recorded shortfall).")
    expired_credits = Credits(help_text="Credits that expired in this run.")
    flagged = serializers.IntegerField(help_text="Resources moved to removing.")
    restored = serializers.IntegerField(help_text="Resources moved back to processed.")
    removed = serializers.IntegerField(help_text="Resources removed (grace over).")
    errors = serializers.IntegerField(help_text="Failed batches (rolled back; the next run "
                                                "redoes them).")
    error_messages = serializers.ListField(child=serializers.CharField())


class LifecycleRunsResponseSerializer(serializers.Serializer):
    results = LifecycleRunSerializer(many=True)
    limit = serializers.IntegerField(help_text="The page size used (capped).")
    next_cursor = serializers.CharField(allow_null=True, help_text="Pass as `cursor` for the "
                                                                   "next (older) page.")
    next = serializers.CharField(allow_null=True, help_text="The next page's URL.")
