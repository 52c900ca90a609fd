"""Answer shapes and request validation of the owners' own API keys."""
from rest_framework import serializers

from ..services.api_keys import NAME_MAX_LENGTH
from .ledger import AwareDateTimeField, StrictCharField


class ApiKeySerializer(serializers.Serializer):
    prefix = serializers.CharField(help_text="The key's first part (before the dot): revoke it "
                                             "by this.")
    name = serializers.CharField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    revoked = serializers.BooleanField()
    created_by = serializers.CharField(help_text="Who made it (a staff user, the owner's token "
                                                 "or key); empty for keys made before this was "
                                                 "recorded.")


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(help_text="The key, shown only this once: send it as "
                                          "`Authorization: Api-Key <key>`.")


class ApiKeyCreateRequestSerializer(serializers.Serializer):
    name = StrictCharField(max_length=NAME_MAX_LENGTH, help_text="What the key is for.")
    expires_at = AwareDateTimeField(required=False, allow_null=True,
                                    help_text="When it stops working (ISO 8601 with a time "
                                              "zone); absent or null: never (revoke it).")
