"""Query validation and answer shapes of the event feed and the webhook endpoints."""
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..cursors import InvalidCursor
from ..models import EventType
from ..selectors.events import event_cursor_decode
from .ledger import AddressField, StrictCharField

DEFAULT_FEED_LIMIT = 100
MAX_FEED_LIMIT = 1000


class EventCursorField(serializers.CharField):
    """The feed's `after`: the position (xid, id) a `next_cursor` encodes."""

    def to_internal_value(self, data) -> tuple[int, int]:
        try:
            return event_cursor_decode(super().to_internal_value(data))
        except InvalidCursor as exc:
            raise serializers.ValidationError(str(exc)) from None


class EventFeedQuerySerializer(serializers.Serializer):
    after = EventCursorField(required=False)
    types = serializers.CharField(required=False, max_length=1000)
    limit = serializers.IntegerField(required=False, min_value=1, default=DEFAULT_FEED_LIMIT)

    def validate_types(self, value: str) -> list[str]:
        types = [item.strip() for item in value.split(",") if item.strip()]
        unknown = sorted(set(types) - set(EventType.values))
        if unknown or not types:
            raise serializers.ValidationError(
                f"Unknown event types: {', '.join(unknown) or '(none given)'}; known: "
                f"{', '.join(EventType.values)}.")
        return types

    def validate_limit(self, value: int) -> int:
        return min(value, MAX_FEED_LIMIT)  # capped, not refused


@extend_schema_field({"type": "object", "additionalProperties": True,
                      "description": "The event's payload: its fields per type in docs/api.md."})
class _Payload(serializers.JSONField):
    pass


class EventSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="evt_…: unique; the `webhook-id` of its deliveries.")
    type = serializers.ChoiceField(choices=EventType.choices)
    timestamp = serializers.DateTimeField(help_text="When it happened (the change's instant).")
    schema_version = serializers.IntegerField(help_text="The version of its payload's schema.")
    account = serializers.CharField(allow_null=True,
                                    help_text="The account's address; null for the operators' "
                                              "events (lifecycle.run_finished).")
    data = _Payload()
    cursor = serializers.CharField(help_text="Pass as `after` to resume after this event.")


class EventFeedResponseSerializer(serializers.Serializer):
    results = EventSerializer(many=True)
    next_cursor = serializers.CharField(
        allow_null=True, help_text="Pass as `after` for what follows (the last event's cursor, "
                                   "or `after` as given when nothing new); null: nothing yet.")
    has_more = serializers.BooleanField(help_text="More events are ready now: ask again at "
                                                  "once.")
    limit = serializers.IntegerField(help_text="The page size used (capped).")


# --- webhook endpoints ------------------------------------------------------------------------

class _EventTypesField(serializers.ListField):
    child = serializers.ChoiceField(choices=EventType.choices)


class WebhookCreateSerializer(serializers.Serializer):
    url = StrictCharField(max_length=2000, help_text="http(s); a public address (private, "
                                                     "loopback and link-local refused).")
    event_types = _EventTypesField(required=False, max_length=len(EventType.values),
                                   help_text="Empty or absent: every type.")
    enabled = serializers.BooleanField(required=False, default=True)
    description = StrictCharField(required=False, allow_blank=True, max_length=200)
    account = AddressField(required=False, allow_null=True,
                           help_text="Only this account's events. Operators and staff: "
                                     "absent or null for every account's; an owner key: "
                                     "always its own account.")


class WebhookUpdateSerializer(serializers.Serializer):
    url = StrictCharField(required=False, max_length=2000)
    event_types = _EventTypesField(required=False, max_length=len(EventType.values))
    enabled = serializers.BooleanField(required=False)
    description = StrictCharField(required=False, allow_blank=True, max_length=200)


class WebhookSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.CharField()
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=EventType.choices),
                                        help_text="Empty: every type.")
    enabled = serializers.BooleanField()
    description = serializers.CharField(allow_blank=True)
    account = serializers.CharField(allow_null=True, help_text="null: every account's events.")
    created_by = serializers.CharField()
    created_at = serializers.DateTimeField()
    failing_since = serializers.DateTimeField(
        allow_null=True, help_text="Every attempt has failed since then; null: not failing.")
    disabled_at = serializers.DateTimeField(allow_null=True)
    disabled_reason = serializers.CharField(allow_blank=True)


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(help_text="whsec_…: verifies the `webhook-signature` of "
                                             "every delivery (Standard Webhooks). Shown only "
                                             "in this answer.")


class WebhookListSerializer(serializers.Serializer):
    results = WebhookSerializer(many=True)
