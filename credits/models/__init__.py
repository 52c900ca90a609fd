"""The credits app's models, one module per part of the domain; import them from here.

- `accounts`: Account, TokenBalance, ApiKey (and its scopes)
- `ledger`: LedgerEntry, Lot, LotDrain and the entry kinds
- `resources`: Resource, ResourceMeter, ResourceGrace, PendingDeletion (a proxy), CostRow,
  ResourceStatusChange and the status vocabularies
- `lifecycle`: LifecycleSettings, LifecycleRun, Charge, ResourceUsage, ChargeRollup and the run
  vocabularies
- `repricing`: Recalculation, RecalculationLine
- `checks`: LedgerCheckpoint and the totals the ledger check keeps between runs
- `sign_in`: SignInNonce, OwnerToken (Sign-In with Ethereum)
- `events`: Event (the outbox), EventType, OutboxState
- `webhooks`: WebhookEndpoint, Delivery, DeliveryAttempt, DeliveryStatus
"""
from .accounts import (  # noqa: F401
    Account,
    ApiKey,
    ApiKeyScope,
    TokenBalance,
)
from .checks import (  # noqa: F401
    LedgerCheckAccount,
    LedgerCheckLot,
    LedgerCheckMode,
    LedgerCheckpoint,
)
from .events import EVENT_ID_PREFIX, Event, EventType, OutboxState  # noqa: F401
from .ledger import (  # noqa: F401
    CREDIT_KINDS,
    DEBIT_KINDS,
    METERING_REASON,
    EntryKind,
    LedgerEntry,
    Lot,
    LotDrain,
    LotQuerySet,
)
from .lifecycle import (  # noqa: F401
    Charge,
    ChargeRollup,
    LifecycleRun,
    LifecycleRunStatus,
    LifecycleSettings,
    LifecycleTrigger,
    ResourceUsage,
)
from .repricing import (  # noqa: F401
    Recalculation,
    RecalculationLine,
    RecalculationOutcome,
    RecalculationStatus,
)
from .resources import (  # noqa: F401
    LIVE_RESOURCE,
    LIVE_STATUSES,
    CostRow,
    PendingDeletion,
    RemovalReason,
    Resource,
    ResourceGrace,
    ResourceMeter,
    ResourceStatus,
    ResourceStatusChange,
    StatusChangeReason,
)
from .sign_in import OwnerToken, SignInNonce  # noqa: F401
from .webhooks import (  # noqa: F401
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    WebhookEndpoint,
)
