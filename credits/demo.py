"""A small living data set for the quick start and the screenshots: nine accounts, resources of
every type and payment, a week of hourly lifecycle runs with their charges, a few resources in
`removing` with different deadlines, one removed, one forgotten, one simulated failed run.

Everything goes through the services (grants, an expense, a transfer, token balances,
registrations, a forget, lifecycle runs at past instants), never raw ledger rows, so the ledger
checks (`check_ledger`) hold afterwards. The week is anchored to `now`: the dashboard's 24-hour
and 7-day windows show activity right after loading. Lifecycle runs at past instants need
`LIFECYCLE_ALLOW_TIME_TRAVEL` (the `load_demo_data` command turns it on for itself only).
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from unittest import mock

from django.db import transaction
from eth_utils import to_checksum_address

from pricing.rules import HOLD_AND_STREAM_CUTOFF

from .models import Account, LedgerEntry, LifecycleRun, LifecycleTrigger, Resource
from .services.ledger import expense_create, grant_create, transfer_create
from .services.lifecycle import lifecycle_run
from .services.lifecycle import run as lifecycle_run_module
from .services.resources import resource_forget, resource_register
from .services.token_balances import token_balance_set

ACTOR = "demo-data"
REFERENCE_PREFIX = "demo-"
# The first grant of the set: its presence means the set is loaded (loading is all or nothing).
MARKER_REFERENCE = "demo-alice-permanent"
_NAMES = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan")
HISTORY_HOURS = 168  # one week of hourly runs, the dashboard chart's window
SIMULATED_FAILURE = ("simulated failure (demo data): the database connection was lost; "
                     "the next run redid this batch")

_NODE_HASH = "4d4db19afca380fdf06ba7f916153d0f740db9de9eee23ad26ba96a90d8a2920"
_ROOTFS_REF = "6e30de68c6cedfa6b45240c2b51e52495ac6fb1bd4b36457b3d5ca307594d595"
_FIRMWARE_REF = "ba5eba11000000000000000000000000000000000000000000000000000000f1"
_STREAM_RECEIVER = "0xA07B1214bAe0D5ccAA25449C3149c0aC83658874"
_GPU_RTX_4090 = {"vendor": "NVIDIA", "device_name": "AD102 [GeForce RTX 4090]",
                 "device_class": "0300", "device_id": "10de:2684"}
_SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDemoKeyForTheQuickStart demo@credits"
_MIB = 1_048_576


def demo_address(name: str) -> str:
    """A made-up, stable, checksummed EVM address for a demo account."""
    return to_checksum_address("0x" + hashlib.sha256(f"credits-demo:{name}".encode())
                               .hexdigest()[:40])


def demo_item_hash(name: str) -> str:
    """A made-up, stable item hash (64 lowercase hex digits) for a demo resource."""
    return hashlib.sha256(f"credits-demo-resource:{name}".encode()).hexdigest()


# --- contents (as the network's messages carry them) -------------------------------------------

def _payment(kind: str) -> dict:
    if kind == "superfluid":
        return {"chain": "BASE", "type": kind, "receiver": _STREAM_RECEIVER}
    return {"chain": "ETH", "type": kind}


def _instance(owner: str, *, name: str, payment: str, vcpus: int = 1, memory: int = 2048,
              confidential: bool = False, gpus: list | None = None) -> dict:
    environment = {"internet": True, "aleph_api": True, "hypervisor": "qemu",
                   "reproducible": False, "shared_cache": False}
    if confidential:
        environment["trusted_execution"] = {"firmware": _FIRMWARE_REF, "policy": 1}
    content = {
        "address": owner, "time": 1_731_456_000.0, "allow_amend": False,
        "metadata": {"name": name}, "authorized_keys": [_SSH_KEY],
        "environment": environment,
        "resources": {"vcpus": vcpus, "memory": memory, "seconds": 30},
        "volumes": [],
        "rootfs": {"parent": {"ref": _ROOTFS_REF, "use_latest": True},
                   "persistence": "host", "size_mib": 20480},
        "payment": _payment(payment),
    }
    requirements: dict = {}
    if gpus:
        requirements["gpu"] = gpus
    if payment == "superfluid" or (gpus and payment != "credit"):
        requirements["node"] = {"node_hash": _NODE_HASH}
    if requirements:
        content["requirements"] = requirements
    return content


def _program(owner: str, *, name: str, payment: str, code_ref: str, runtime_ref: str,
             persistent: bool = False, memory: int = 128) -> dict:
    return {
        "address": owner, "time": 1_731_456_000.0, "allow_amend": False,
        "metadata": {"name": name}, "type": "vm-function",
        "code": {"encoding": "zip", "entrypoint": "main:app", "ref": code_ref,
                 "use_latest": True},
        "runtime": {"ref": runtime_ref, "use_latest": True,
                    "comment": "Aleph Alpine Linux with Python 3.12"},
        "on": {"http": True, "persistent": persistent},
        "environment": {"internet": True, "aleph_api": True, "reproducible": False,
                        "shared_cache": False},
        "resources": {"vcpus": 1, "memory": memory, "seconds": 30},
        "volumes": [],
        "payment": _payment(payment),
    }


def _store(owner: str, *, item_hash: str, size_mib: int, payment: str) -> dict:
    return {"address": owner, "time": 1_731_456_000.0, "item_type": "storage",
            "item_hash": item_hash, "size": size_mib * _MIB, "payment": _payment(payment)}


# --- the story ---------------------------------------------------------------------------------

@dataclass
class DemoResult:
    loaded: bool  # False: the set was already there and nothing was added
    accounts: int = 0
    resources: int = 0
    runs: int = 0
    failed_runs: int = 0


@dataclass(order=True)
class _Event:
    at: datetime
    order: int
    action: Callable[[datetime], object] = field(compare=False)


class _Timeline:
    """Actions at instants relative to `now`, played in order between hourly lifecycle runs."""

    def __init__(self, now: datetime):
        self.now = now
        self.events: list[_Event] = []

    def at(self, hours_ago: float, action: Callable[[datetime], object]) -> None:
        self.events.append(_Event(self.now - timedelta(hours=hours_ago), len(self.events),
                                  action))

    def grant(self, hours_ago: float, name: str, amount: int, *, reference: str,
              expires_in_hours: float | None = None) -> None:
        def action(at):
            expires_at = (None if expires_in_hours is None
                          else self.now + timedelta(hours=expires_in_hours))
            grant_create(address=demo_address(name), amount=amount, expires_at=expires_at,
                         reference=REFERENCE_PREFIX + reference, actor=ACTOR, at=at)
        self.at(hours_ago, action)

    def register(self, hours_ago: float, key: str, message_type: str, content: dict, *,
                 legacy: bool = False) -> None:
        """Six minutes before the runs' hourly grid: each billing hour ends before a run, not at
        the very instant of one. A `legacy` resource (paid by hold or stream) is dated the day
        before the network stopped accepting those payments (pricing.rules), as such resources
        were; it still takes its place in the story's order."""
        def action(at):
            if legacy:
                at = min(at, HOLD_AND_STREAM_CUTOFF - timedelta(days=1))
            return resource_register(item_hash=demo_item_hash(key), message_type=message_type,
                                     content=content, actor=ACTOR, at=at)
        self.at(hours_ago + 0.1, action)

    def tokens(self, hours_ago: float, name: str, balance: str, height: int) -> None:
        self.at(hours_ago, lambda at: token_balance_set(
            address=demo_address(name), chain="ETH", balance=Decimal(balance), height=height,
            actor=ACTOR))


def _story(timeline: _Timeline) -> None:
    t = timeline
    week = HISTORY_HOURS
    alice, bob, carol, dave, erin, frank, grace, heidi, ivan = map(demo_address, _NAMES)
    code_store, runtime_store = demo_item_hash("alice-code"), demo_item_hash("alice-runtime")

    # Alice pays with credits: permanent and expiring ones (the expiring are drained first), a
    # purchase five hours ago; two stored files, an on-demand program whose code and runtime are
    # those files, a persistent program and an instance. She stays funded all week.
    t.grant(week + 1, "alice", 25_000_000, reference="alice-permanent")
    t.grant(week + 1, "alice", 4_000_000, reference="alice-expiring", expires_in_hours=14 * 24)
    t.register(week, "alice-code", "STORE",
               _store(alice, item_hash=code_store, size_mib=30, payment="credit"))
    t.register(week, "alice-runtime", "STORE",
               _store(alice, item_hash=runtime_store, size_mib=100, payment="credit"))
    t.register(week, "alice-api", "PROGRAM",
               _program(alice, name="alice-api", payment="credit", code_ref=code_store,
                        runtime_ref=runtime_store))
    t.register(week, "alice-web", "INSTANCE", _instance(alice, name="alice-web",
                                                        payment="credit"))
    t.register(120, "alice-worker", "PROGRAM",
               _program(alice, name="alice-worker", payment="credit", code_ref=code_store,
                        runtime_ref=runtime_store, persistent=True))
    t.grant(5, "alice", 3_000_000, reference="alice-top-up", expires_in_hours=30 * 24)

    # Bob runs a confidential VM all week and a GPU VM since three days; he funds Carol.
    t.grant(week + 1, "bob", 130_000_000, reference="bob-permanent")
    t.register(week, "bob-enclave", "INSTANCE",
               _instance(bob, name="bob-enclave", payment="credit", confidential=True))
    t.at(week + 0.5, lambda at: transfer_create(
        sender_address=bob, recipient_address=carol, amount=1_100_000, expires_at=None,
        reference=REFERENCE_PREFIX + "bob-to-carol", actor=ACTOR, at=at))
    t.register(72, "bob-gpu", "INSTANCE",
               _instance(bob, name="bob-gpu", payment="credit", vcpus=8, memory=16384,
                         gpus=[_GPU_RTX_4090]))

    # Carol's credits (Bob's transfer) run out by metering: flagged, then removed after grace.
    t.register(week, "carol-vm", "INSTANCE", _instance(carol, name="carol-vm", payment="credit"))

    # Dave is billed 800 k credits from outside (an expense) 21 hours ago: his program is
    # flagged at the next run, his instance a few hours later, when metering drained the rest.
    t.grant(week + 1, "dave", 6_600_000, reference="dave-permanent")
    t.register(week, "dave-vm", "INSTANCE", _instance(dave, name="dave-vm", payment="credit"))
    t.register(week, "dave-api", "PROGRAM",
               _program(dave, name="dave-api", payment="credit", code_ref=code_store,
                        runtime_ref=runtime_store))
    t.at(20.5, lambda at: expense_create(
        address=dave, amount=800_000, reference=REFERENCE_PREFIX + "dave-external-usage",
        actor=ACTOR, at=at))

    # Erin's main credits expired six and a half hours ago; what is left does not fund a day.
    t.grant(week + 1, "erin", 3_000_000, reference="erin-expiring", expires_in_hours=-6.5)
    t.grant(week + 1, "erin", 200_000, reference="erin-permanent")
    t.register(week, "erin-vm", "INSTANCE", _instance(erin, name="erin-vm", payment="credit"))

    # Frank holds tokens: his balance dropped two days ago (two resources flagged) and came back
    # ten hours later (restored).
    t.tokens(week + 1, "frank", "5000", 19_000_000)
    t.register(week, "frank-vm", "INSTANCE", _instance(frank, name="frank-vm", payment="hold"),
               legacy=True)
    t.register(week, "frank-api", "PROGRAM",
               _program(frank, name="frank-api", payment="hold", code_ref=code_store,
                        runtime_ref=runtime_store), legacy=True)
    t.register(week, "frank-archive", "STORE",
               _store(frank, item_hash=demo_item_hash("frank-archive"), size_mib=500,
                      payment="hold"), legacy=True)
    t.tokens(50.5, "frank", "1200", 19_010_000)
    t.tokens(40.5, "frank", "6000", 19_012_000)

    # Grace holds tokens for a confidential VM; her balance dropped two and a half hours ago.
    t.tokens(week + 1, "grace", "2500", 19_000_100)
    t.register(week, "grace-enclave", "INSTANCE",
               _instance(grace, name="grace-enclave", payment="hold", confidential=True),
               legacy=True)
    t.tokens(2.5, "grace", "1200", 19_014_000)

    # Heidi streams (Superfluid): two VMs, one of which she deleted three days ago.
    t.register(week, "heidi-vm", "INSTANCE", _instance(heidi, name="heidi-vm",
                                                       payment="superfluid"), legacy=True)
    t.register(week, "heidi-test", "INSTANCE", _instance(heidi, name="heidi-test",
                                                         payment="superfluid"), legacy=True)
    t.at(72.5, lambda at: resource_forget(item_hash=demo_item_hash("heidi-test"), actor=ACTOR,
                                          at=at))

    # Ivan arrived three hours ago: a purchase of expiring credits and a VM.
    t.grant(3, "ivan", 1_500_000, reference="ivan-welcome", expires_in_hours=30 * 24)
    t.register(2.5, "ivan-vm", "INSTANCE", _instance(ivan, name="ivan-vm", payment="credit"))


def _dated_run(*, at: datetime, fail: bool) -> LifecycleRun:
    if fail:
        # The run logs a failed batch with its traceback: expected here, so kept quiet.
        lifecycle_logger = logging.getLogger("credits.services.lifecycle")
        previous, lifecycle_logger.disabled = lifecycle_logger.disabled, True
        try:
            # Its batch fails as a lost connection would: rolled back, redone by the next run.
            with mock.patch.object(lifecycle_run_module, "batch_run",
                                   side_effect=RuntimeError(SIMULATED_FAILURE)):
                run = lifecycle_run(at=at, trigger=LifecycleTrigger.DEMO)
        finally:
            lifecycle_logger.disabled = previous
    else:
        run = lifecycle_run(at=at, trigger=LifecycleTrigger.DEMO)
    # A run records the wall clock it ran at; a run of the simulated week is dated at the
    # instant it simulated, so the run history reads as a week of hourly runs.
    took = run.finished_at - run.started_at
    LifecycleRun.objects.filter(pk=run.pk).update(started_at=at, finished_at=at + took)
    return run


def demo_data_loaded() -> bool:
    return LedgerEntry.objects.filter(reference=MARKER_REFERENCE).exists()


@transaction.atomic
def demo_data_load(*, now: datetime, failed_run_hours_ago: int = 3) -> DemoResult:
    """Load the demo set as of `now`, once: nothing is added when it is already there.

    Hourly lifecycle runs from `now` − 167 h to `now` (the last one at `now`) meter, flag,
    restore and remove; the run `failed_run_hours_ago` hours before `now` fails on purpose (its
    batch is rolled back and the next run redoes it). All or nothing: one transaction.
    """
    if demo_data_loaded():
        return DemoResult(loaded=False)
    timeline = _Timeline(now)
    _story(timeline)
    events = sorted(timeline.events)
    runs = failed = 0
    for hours_ago in range(HISTORY_HOURS - 1, -1, -1):
        run_at = now - timedelta(hours=hours_ago)
        while events and events[0].at < run_at:
            event = events.pop(0)
            event.action(event.at)
        run = _dated_run(at=run_at, fail=hours_ago == failed_run_hours_ago)
        runs += 1
        failed += bool(run.errors)
    for event in events:  # none are planned after the last run; kept for safety
        event.action(event.at)
    addresses = [demo_address(name) for name in _NAMES]
    return DemoResult(
        loaded=True, accounts=Account.objects.filter(address__in=addresses).count(),
        resources=Resource.objects.filter(owner__address__in=addresses).count(),
        runs=runs, failed_runs=failed)

