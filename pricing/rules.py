"""Which payment types a product accepts at an instant: the network's payment cut-offs as data
(`PaymentRuleSpec`) and the one pure rule every caller uses (`payment_type_refusal`).

Pure: no ORM, no I/O, no clock; the instant is an argument.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from .enums import PaymentType, ProductType

# The network's cut-offs (aleph-im/pyaleph src/aleph/toolkit/constants.py, checked in
# src/aleph/handlers/content/vm.py and store.py through src/aleph/toolkit/costs.py).
# HOLD_AND_STREAM_CUTOFF_TIMESTAMP = 1773187200: new instances and persistent programs pay by
# credit (hold and stream refused).
HOLD_AND_STREAM_CUTOFF = datetime(2026, 3, 11, tzinfo=timezone.utc)
# CREDIT_ONLY_CUTOFF_TIMESTAMP = 1798761600: every paid resource pays by credit.
CREDIT_ONLY_CUTOFF = datetime(2027, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class PaymentRuleSpec:
    """From `not_accepted_from` on, `payment_types` are refused for `product_types`."""

    name: str
    product_types: tuple[str, ...]
    payment_types: tuple[str, ...]
    not_accepted_from: datetime
    description: str = ""

    def refuses(self, *, product_type: str, payment_type: str, at: datetime) -> bool:
        return (product_type in self.product_types and payment_type in self.payment_types
                and at >= self.not_accepted_from)


DEFAULT_PAYMENT_RULES = (
    PaymentRuleSpec(
        name="hold_and_stream_deprecated",
        product_types=(ProductType.PROGRAM_PERSISTENT.value, ProductType.INSTANCE.value,
                       ProductType.INSTANCE_CONFIDENTIAL.value,
                       ProductType.INSTANCE_GPU_STANDARD.value,
                       ProductType.INSTANCE_GPU_PREMIUM.value),
        payment_types=(PaymentType.HOLD.value, PaymentType.SUPERFLUID.value),
        not_accepted_from=HOLD_AND_STREAM_CUTOFF,
        description="Instances and persistent programs pay by credit (the network's "
                    "HOLD_AND_STREAM_CUTOFF_TIMESTAMP)."),
    PaymentRuleSpec(
        name="credit_only",
        product_types=tuple(p.value for p in ProductType),
        payment_types=(PaymentType.HOLD.value, PaymentType.SUPERFLUID.value),
        not_accepted_from=CREDIT_ONLY_CUTOFF,
        description="Every paid resource pays by credit (the network's "
                    "CREDIT_ONLY_CUTOFF_TIMESTAMP)."),
)


def format_rule_date(value: datetime) -> str:
    """A rule's date for people: '2026-03-11 00:00 UTC'."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class Refusal:
    """Why a payment type is not accepted: the rule, its date, and what is still accepted."""

    rule: str
    product_type: str
    payment_type: str
    not_accepted_from: datetime
    accepted_payment_types: tuple[str, ...]

    @property
    def message(self) -> str:
        accepted = " or ".join(self.accepted_payment_types)
        advice = f"pay with {accepted}" if accepted else "no payment type is accepted for it"
        return (f"{self.payment_type} payment is not accepted for {self.product_type} since "
                f"{format_rule_date(self.not_accepted_from)} (payment rule "
                f"“{self.rule}”); {advice}.")

    def details(self) -> dict:
        """The refusal as the API's error details (plain JSON values)."""
        return {"rule": self.rule, "product_type": self.product_type,
                "payment_type": self.payment_type,
                "not_accepted_from": self.not_accepted_from.isoformat(),
                "accepted_payment_types": list(self.accepted_payment_types)}


@dataclass(frozen=True)
class PaymentTypeAcceptance:
    """The answer for one product, payment type and instant: accepted, or refused and why."""

    refusal: Refusal | None

    @property
    def accepted(self) -> bool:
        return self.refusal is None


def payment_type_refusal(rules, product_type: str, payment_type: str,
                         at: datetime) -> Refusal | None:
    """Why `payment_type` is not accepted for `product_type` at `at`, or None if it is.

    When several rules refuse it, the one in force the longest is named (earliest date, then
    name), so the message says since when the payment type has been refused.
    """
    refusing = [rule for rule in rules
                if rule.refuses(product_type=product_type, payment_type=payment_type, at=at)]
    if not refusing:
        return None
    rule = min(refusing, key=lambda r: (r.not_accepted_from, r.name))
    accepted = tuple(
        other.value for other in PaymentType
        if not any(r.refuses(product_type=product_type, payment_type=other.value, at=at)
                   for r in rules))
    return Refusal(rule=rule.name, product_type=product_type, payment_type=payment_type,
                   not_accepted_from=rule.not_accepted_from, accepted_payment_types=accepted)
