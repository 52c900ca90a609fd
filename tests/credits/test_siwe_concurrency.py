"""One nonce, many sign-ins at once, by real threads on their own PostgreSQL connections: the
guarded UPDATE lets exactly one of them through, whatever the interleaving."""
import functools

import pytest

from credits.errors import SignInRefused
from credits.models import OwnerToken, SignInNonce
from credits.services.sign_in import SignIn, sign_in_nonce_create, sign_in_with_ethereum
from tests.threads import in_threads

from .wallets import Wallet

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

THREADS = 8


def _sign_in(text: str, signature: str):
    return sign_in_with_ethereum(message=text, signature=signature)


@pytest.mark.parametrize("round_", range(3))
def test_of_many_wallets_signing_in_with_one_nonce_at_once_exactly_one_succeeds(round_):
    nonce = sign_in_nonce_create().nonce
    wallets = [Wallet() for _ in range(THREADS)]
    signed = [(text, wallet.sign(text))
              for wallet in wallets for text in [wallet.message(nonce).text()]]

    results = in_threads(*[functools.partial(_sign_in, text, signature)
                           for text, signature in signed])

    winners = [result for result in results if isinstance(result, SignIn)]
    losers = [result for result in results if not isinstance(result, SignIn)]
    assert len(winners) == 1, results
    assert all(isinstance(loser, SignInRefused) and loser.code == "siwe_nonce_used"
               for loser in losers), losers
    assert OwnerToken.objects.count() == 1
    assert OwnerToken.objects.get().account.address == winners[0].account.address
    assert SignInNonce.objects.get(nonce=nonce).used_at is not None


def test_one_message_sent_many_times_at_once_signs_in_once():
    nonce = sign_in_nonce_create().nonce
    wallet = Wallet()
    text = wallet.message(nonce).text()
    signature = wallet.sign(text)

    results = in_threads(*[functools.partial(_sign_in, text, signature)
                           for _ in range(THREADS)])

    assert sum(isinstance(result, SignIn) for result in results) == 1, results
    assert {result.code for result in results if isinstance(result, SignInRefused)} \
        == {"siwe_replayed"}
    assert OwnerToken.objects.count() == 1
