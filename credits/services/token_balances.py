"""Token balances for hold payments, as an oracle reports them with a block height: a newer
height replaces the balance, an older one never does."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Context, Decimal

from aleph_message.models import Chain
from django.db import transaction
from django.utils import timezone

from pricing.fields import DECIMAL_PLACES, MAX_DIGITS

from ..addresses import address_input
from ..errors import InvalidInput, StaleHeight
from ..locks import account_lock
from ..models import Account, TokenBalance

logger = logging.getLogger(__name__)

# The one range of a token balance, the largest value its numeric(38, 18) column holds: 20
# digits before the point and 18 after, 99999999999999999999.999999999999999999. The API's
# field, this service and the column all accept exactly this; 10**20 itself overflows.
TOKEN_BALANCE_DECIMALS = DECIMAL_PLACES
TOKEN_BALANCE_INTEGER_DIGITS = MAX_DIGITS - DECIMAL_PLACES
MAX_TOKEN_BALANCE = Decimal((0, (9,) * MAX_DIGITS, -DECIMAL_PLACES))
# Block heights run from 0 to 10**12. The fastest-growing height the network reads, Solana's
# slot (2.5 a second), is under 10**9 today and would take over 12 000 years to reach 10**12, so
# no real report is refused. Yet the bound is far below the column's 2**63 - 1 (and below 2**53,
# exact in every JSON reader), so a sentinel or overflowed value (2**63 - 1, a millisecond
# timestamp) is refused instead of becoming a height no later report can ever exceed.
MAX_HEIGHT = 10 ** 12
_EXACT = Context(prec=60)
_CHAINS = {chain.value.upper(): chain.value for chain in Chain}


@dataclass(frozen=True, slots=True)
class TokenBalanceResult:
    token_balance: TokenBalance
    updated: bool  # False: the same height and balance were reported before
    created: bool = False


def chain_normalize(chain: str) -> str:
    """A chain as the network names it (`ETH`, `AVAX`, `BASE`, `SOL`…), case-insensitive."""
    if not isinstance(chain, str) or chain.upper() not in _CHAINS:
        raise InvalidInput(f"Unknown chain {chain!r}.", field="chain",
                           known=sorted(_CHAINS.values()))
    return _CHAINS[chain.upper()]


def _validate(balance: Decimal, height: int) -> None:
    if not isinstance(balance, Decimal) or not balance.is_finite():
        raise InvalidInput("balance must be a finite decimal.", field="balance")
    if balance < 0 or balance > MAX_TOKEN_BALANCE:
        raise InvalidInput(f"balance must be between 0 and {MAX_TOKEN_BALANCE}.",
                           field="balance", maximum=str(MAX_TOKEN_BALANCE))
    if balance.normalize(_EXACT).as_tuple().exponent < -TOKEN_BALANCE_DECIMALS:
        raise InvalidInput(f"balance has more than {TOKEN_BALANCE_DECIMALS} decimals.",
                           field="balance")
    if isinstance(height, bool) or not isinstance(height, int) or not 0 <= height <= MAX_HEIGHT:
        raise InvalidInput(f"height must be an integer between 0 and {MAX_HEIGHT}.",
                           field="height", maximum=MAX_HEIGHT)


def token_balance_set(*, address: str, chain: str, balance: Decimal, height: int,
                      actor: str) -> TokenBalanceResult:
    """Record the account's token balance on `chain` at block `height`.

    A newer height replaces the balance; the same height with the same balance changes nothing
    (updated=False); an older height, or the same height with another balance, is StaleHeight
    (409, details: current_height). Serialised on the account's row lock, like registrations,
    so a hold check never reads a balance that is being replaced.
    """
    _validate(balance, height)
    chain = chain_normalize(chain)
    address = address_input(address)
    with transaction.atomic():
        account, _ = Account.objects.get_or_create(address=address)
        account_lock(account.pk)
        current = TokenBalance.objects.filter(account=account, chain=chain).first()
        if current is None:
            token_balance = TokenBalance.objects.create(account=account, chain=chain,
                                                        balance=balance, height=height,
                                                        updated_at=timezone.now())
            logger.info("token balance %s/%s set to %s at height %s by %s", address, chain,
                        balance, height, actor)
            return TokenBalanceResult(token_balance=token_balance, updated=True, created=True)
        if height == current.height and balance == current.balance:
            return TokenBalanceResult(token_balance=current, updated=False)
        if height <= current.height:
            raise StaleHeight(
                f"A balance at height {current.height} is already recorded; height {height} "
                f"{'is older' if height < current.height else 'reported another balance'}.",
                current_height=current.height, current_balance=f"{current.balance:.18f}")
        TokenBalance.objects.filter(pk=current.pk, height__lt=height).update(
            balance=balance, height=height, updated_at=timezone.now())
        current.refresh_from_db()
        logger.info("token balance %s/%s set to %s at height %s by %s", address, chain, balance,
                    height, actor)
        return TokenBalanceResult(token_balance=current, updated=True)
