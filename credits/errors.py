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




class CursorExpired(DomainError):
    """A feed cursor older than the events kept: what came after it may be gone."""

    status_code = 410
    code = "cursor_expired"


class WebhookTargetRefused(DomainError):
    """A webhook URL that may not be called (scheme, host, or a non-public address)."""

    status_code = 422
    code = "webhook_url_refused"
