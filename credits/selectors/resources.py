"""Reading resources and what they cost an account."""
from decimal import Decimal

from django.db.models import Sum

from pricing.enums import PaymentType

from ..models import LIVE_STATUSES, Account, Resource


def account_credit_cost_per_second(*, account: Account) -> Decimal:
    """Credits per second of the account's credit-paid resources that are billed now
    (`processed` and `removing`)."""
    total = (Resource.objects.filter(owner=account, payment_type=PaymentType.CREDIT,
                                     status__in=LIVE_STATUSES)
             .aggregate(total=Sum("cost_credit_per_second"))["total"])
    return Decimal(total or 0)
