"""What can go wrong with accounts, credits and resources, and how the API reports it."""
from credits_project.errors import DomainError


class InvalidInput(DomainError):
    status_code = 422
    code = "invalid_input"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class IdempotencyConflict(DomainError):
    """The same reference was used before with another body."""

    status_code = 409
    code = "idempotency_conflict"


class InsufficientCredit(DomainError):
    """details: required_credits, account_credits, min_runtime_days."""

    status_code = 402
    code = "insufficient_credit"


class InsufficientBalance(DomainError):
    """details: required_balance, account_balance (tokens)."""

    status_code = 402
    code = "insufficient_balance"


class PaymentTypeNotAccepted(DomainError):
    """A payment rule of the pricing version refuses the content's payment type for its product
    (e.g. hold for an instance since the network's cut-off); nothing is stored.

    details: rule, product_type, payment_type, not_accepted_from, accepted_payment_types."""

    status_code = 422
    code = "payment_type_not_accepted"

    def __init__(self, refusal):  # a pricing.rules.Refusal
        super().__init__(refusal.message, **refusal.details())


class ResourceConflict(DomainError):
    status_code = 409
    code = "resource_conflict"


class StaleHeight(DomainError):
    status_code = 409
    code = "stale_height"


class ContentRefused(DomainError):
    """The content is not a valid Aleph content of its type; details.errors say where."""

    status_code = 422
    code = "invalid_content"


class CannotPrice(DomainError):
    """The engine cannot price the content; `code` is the engine's (e.g. unknown_volume_size)."""

    status_code = 422
    code = "cannot_price"

    def __init__(self, error):  # a pricing.costs.CostError
        super().__init__(error.message, **error.details)
        self.code = error.code




class SignInRefused(DomainError):
    """A wallet sign-in refused (401); `code` says why: siwe_wrong_domain, siwe_wrong_uri,
    siwe_wrong_chain, siwe_issued_in_future, siwe_expired, siwe_not_yet_valid,
    siwe_wrong_signer, siwe_unknown_nonce, siwe_nonce_expired, siwe_replayed or
    siwe_nonce_used."""

    status_code = 401
    www_authenticate = "Bearer"

    def __init__(self, code: str, message: str, **details):
        super().__init__(message, **details)
        self.code = code


class SignInMalformed(DomainError):
    """Not a sign-in message or signature at all (400): siwe_malformed_message or
    siwe_malformed_signature."""

    status_code = 400

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class TooManyApiKeys(DomainError):
    """details: live_keys, max_live_keys."""

    status_code = 409
    code = "too_many_api_keys"
class CursorExpired(DomainError):
    """A feed cursor older than the events kept: what came after it may be gone."""

    status_code = 410
    code = "cursor_expired"


class WebhookTargetRefused(DomainError):
    """A webhook URL that may not be called (scheme, host, or a non-public address)."""

    status_code = 422
    code = "webhook_url_refused"
