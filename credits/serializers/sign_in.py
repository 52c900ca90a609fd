"""Request validation and answer shapes of Sign-In with Ethereum: the nonce, the sign-in."""
from rest_framework import serializers

from ..siwe import MAX_MESSAGE_LENGTH, SIGNATURE_PATTERN
from .ledger import StrictCharField


class NonceSerializer(serializers.Serializer):
    nonce = serializers.CharField(help_text="Put it in the message's `Nonce:` line. Usable once.")
    expires_at = serializers.DateTimeField(help_text="Sign in before then.")
    domain = serializers.CharField(help_text="What the message's first line must name.")
    uri = serializers.CharField(help_text="What the message's `URI:` line must say.")
    chain_ids = serializers.ListField(child=serializers.IntegerField(),
                                      help_text="The `Chain ID:` values accepted (EIP-155).")


class SignInRequestSerializer(serializers.Serializer):
    # Kept as sent (no trimming): the signature is of these exact characters.
    message = StrictCharField(trim_whitespace=False, max_length=MAX_MESSAGE_LENGTH,
                              help_text="The EIP-4361 message, lines separated by LF, exactly "
                                        "as signed.")
    signature = serializers.RegexField(
        SIGNATURE_PATTERN, max_length=132,
        help_text="The wallet's `personal_sign` (EIP-191) of the message: 0x and 130 hex digits.")


class SignInSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send it as `Authorization: Bearer <token>`. Shown "
                                            "once: only its hash is stored.")
    token_type = serializers.ChoiceField(choices=["Bearer"])
    expires_at = serializers.DateTimeField()
    address = serializers.CharField(help_text="The account it acts for (checksummed).")
