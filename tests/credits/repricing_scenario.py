"""The data set of the repricing tests (impact and recalculation): four accounts with five live
resources priced with worked example E1, and the numbers worked out by hand for them."""
from decimal import Decimal

from credits.models import Resource
from credits.services.ledger import grant_create
from credits.services.resources import resource_forget, resource_register
from credits.services.token_balances import token_balance_set
from tests.pricing.contents import instance_content

# Accounts of the seeded data set (checksummed EVM addresses).
RICH = "0xA1A1a1a1A1A1A1A1A1a1a1a1a1a1A1A1a1A1a1a1"  # 1 000 000 credits, one E1
SHORT = "0xa2A2a2A2A2A2A2a2a2a2a2A2A2A2A2a2A2A2a2a2"  # 500 000 credits, one E1
TWO = "0xA3A3A3a3a3A3a3A3a3A3A3A3A3a3a3A3A3A3A3A3"  # 800 000 credits, two E1
HOLDER = "0xA4a4A4A4A4a4a4a4a4a4a4A4a4a4a4a4A4a4A4A4"  # 1000 tokens, one E1 paid by hold
GPU_OWNER = "0xA5A5A5A5A5A5A5A5A5A5a5a5a5a5a5a5A5a5a5a5"

# Worked example E1 (1 vCPU, 2 GiB, 20 GiB rootfs: one CU, its disk included).
E1_CREDIT_PER_SECOND = Decimal("3.958333333333333333")  # 14250 / 3600, floored to 18 places
E1_CREDIT_PER_SECOND_DOUBLED = Decimal("7.916666666666666666")  # 28500 / 3600
# One E1 for one day: 341 999.99…97 credits now, 683 999.99…94 with the draft.


def item_hash(number: int) -> str:
    return f"{number:064x}"


def grant(address: str, amount: int) -> None:
    grant_create(address=address, amount=amount, expires_at=None,
                 reference=f"impact-test-{address}-{amount}", actor="test")


def register(number: int, content: dict) -> Resource:
    return resource_register(item_hash=item_hash(number), message_type="INSTANCE",
                             content=content, actor="test").resource


def seed() -> dict[str, Resource]:
    """Five live resources of four accounts (and a forgotten one that no longer counts)."""
    grant(RICH, 1_000_000)
    grant(SHORT, 500_000)
    grant(TWO, 800_000)
    token_balance_set(address=HOLDER, chain="ETH", balance=Decimal(1000), height=1,
                      actor="test")
    resources = {
        "rich": register(1, instance_content(payment="credit", address=RICH)),
        "short": register(2, instance_content(payment="credit", address=SHORT)),
        "two_first": register(3, instance_content(payment="credit", address=TWO)),
        "two_second": register(4, instance_content(payment="credit", address=TWO)),
        "hold": register(5, instance_content(payment="hold", address=HOLDER)),
        "forgotten": register(6, instance_content(payment="credit", address=RICH)),
    }
    resource_forget(item_hash=item_hash(6), actor="test")
    return resources
