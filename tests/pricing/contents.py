"""Valid Aleph message contents for tests, as plain dicts (the JSON a client would post).

Each builder returns a fresh dict that `pricing.content.parse_content` accepts; keyword arguments
set the usual knobs and `**overrides` replace whole top-level keys. For example::

    instance_content(vcpus=2, memory=4096, payment="credit",
                     volumes=[persistent_volume(1024, mount="/data")])
    instance_content(gpus=[gpu("10de:2684")], vcpus=8, memory=16384)
    program_content(internet=False, code_size_mib=5, runtime_size_mib=100)
    store_content(size=1_572_864)                      # 1.5 MiB, from the byte size
    store_content(estimated_size_mib=10, payment="credit")

Payments: "hold", "credit" or "superfluid" (or None for no `payment` key). A stream payment and
a GPU instance not paid by credit get `requirements.node.node_hash`, as the network requires.
"""
from __future__ import annotations

import copy
from typing import Any, Sequence

from pricing.defaults import DEFAULT_COMPATIBLE_GPUS

ADDRESS = "0x5c4E1b5D3Ad6D0fe2Df5F13E2A2eE0dD5B7A4a11"
TIME = 1_731_456_000.0
# Item hashes are 64 lowercase hex characters (a "storage" hash); these are made up.
ROOTFS_REF = "6e30de68c6cedfa6b45240c2b51e52495ac6fb1bd4b36457b3d5ca307594d595"
CODE_REF = "c0de000000000000000000000000000000000000000000000000000000000001"
RUNTIME_REF = "63f07193e6ee9d207b7d1fcf8286f9aee34e6f12f101d2ec77c1229f92964696"
DATA_REF = "da7a000000000000000000000000000000000000000000000000000000000001"
STORE_REF = "5708e000000000000000000000000000000000000000000000000000000000aa"
OTHER_STORE_REF = "5708e000000000000000000000000000000000000000000000000000000000bb"
NODE_HASH = "4d4db19afca380fdf06ba7f916153d0f740db9de9eee23ad26ba96a90d8a2920"
FIRMWARE_REF = "ba5eba11000000000000000000000000000000000000000000000000000000f1"

_GPU_NAMES = {entry["device_id"]: entry["name"] for entry in DEFAULT_COMPATIBLE_GPUS}
_CHAINS = {"hold": "ETH", "credit": "ETH", "superfluid": "BASE"}


def payment_body(kind: str | None) -> dict | None:
    """A `payment` object of the given type ("hold", "credit", "superfluid")."""
    if kind is None:
        return None
    body = {"chain": _CHAINS.get(kind, "ETH"), "type": kind}
    if kind == "superfluid":
        body["receiver"] = "0xA07B1214bAe0D5ccAA25449C3149c0aC83658874"
    return body


def gpu(device_id: str) -> dict:
    """A `requirements.gpu[]` entry for a PCI device id (named from the default catalogue)."""
    return {
        "vendor": "NVIDIA",
        "device_name": _GPU_NAMES.get(device_id, "Unknown device"),
        "device_class": "0300",
        "device_id": device_id,
    }


def immutable_volume(ref: str = STORE_REF, *, mount: str | None = None,
                     estimated_size_mib: int | None = None) -> dict:
    """A read-only volume of a STORE file; `estimated_size_mib` only parses as an estimate."""
    volume: dict[str, Any] = {"ref": ref, "use_latest": True}
    if mount is not None:
        volume["mount"] = mount
    if estimated_size_mib is not None:
        volume["estimated_size_mib"] = estimated_size_mib
    return volume


def persistent_volume(size_mib: int, *, mount: str | None = None, name: str = "data") -> dict:
    volume: dict[str, Any] = {"persistence": "host", "name": name, "size_mib": size_mib}
    if mount is not None:
        volume["mount"] = mount
    return volume


def ephemeral_volume(size_mib: int, *, mount: str | None = None) -> dict:
    volume: dict[str, Any] = {"ephemeral": True, "size_mib": size_mib}
    if mount is not None:
        volume["mount"] = mount
    return volume


def _with_payment(content: dict, kind: str | None) -> dict:
    body = payment_body(kind)
    if body is not None:
        content["payment"] = body
    return content


def instance_content(*, vcpus: int = 1, memory: int = 2048, rootfs_size_mib: int = 20480,
                     internet: bool = True, payment: str | None = "hold",
                     volumes: Sequence[dict] = (), gpus: Sequence[dict] = (),
                     confidential: bool = False, **overrides: Any) -> dict:
    """An INSTANCE content; the defaults are worked example E1 (1 vCPU, 2 GiB, 20 GiB rootfs)."""
    environment: dict[str, Any] = {"internet": internet, "aleph_api": True,
                                   "hypervisor": "qemu", "reproducible": False,
                                   "shared_cache": False}
    if confidential:
        environment["trusted_execution"] = {"firmware": FIRMWARE_REF, "policy": 1}
    content: dict[str, Any] = {
        "address": ADDRESS,
        "time": TIME,
        "allow_amend": False,
        "metadata": {"name": "test-vm"},
        "authorized_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHtestkey user@host"],
        "environment": environment,
        "resources": {"vcpus": vcpus, "memory": memory, "seconds": 30},
        "volumes": [copy.deepcopy(v) for v in volumes],
        "rootfs": {"parent": {"ref": ROOTFS_REF, "use_latest": True},
                   "persistence": "host", "size_mib": rootfs_size_mib},
    }
    _with_payment(content, payment)
    requirements: dict[str, Any] = {}
    if gpus:
        requirements["gpu"] = [copy.deepcopy(g) for g in gpus]
    if payment == "superfluid" or (gpus and payment != "credit"):
        requirements["node"] = {"node_hash": NODE_HASH}
    if requirements:
        content["requirements"] = requirements
    content.update(copy.deepcopy(overrides))
    return content


def program_content(*, vcpus: int = 1, memory: int = 128, internet: bool = True,
                    persistent: bool = False, code_size_mib: int | None = None,
                    runtime_size_mib: int | None = None, data_size_mib: int | None = None,
                    with_data: bool = False, payment: str | None = "hold",
                    volumes: Sequence[dict] = (), **overrides: Any) -> dict:
    """A PROGRAM content. `*_size_mib` become `estimated_size_mib` (estimate parsing only);
    without them the code/runtime/data sizes come from `ref_sizes_mib`. `data` is present when
    `with_data` or `data_size_mib` is given."""
    code: dict[str, Any] = {"encoding": "zip", "entrypoint": "main:app", "ref": CODE_REF,
                            "use_latest": True}
    runtime: dict[str, Any] = {"ref": RUNTIME_REF, "use_latest": True,
                               "comment": "Aleph Alpine Linux with Python 3.12"}
    if code_size_mib is not None:
        code["estimated_size_mib"] = code_size_mib
    if runtime_size_mib is not None:
        runtime["estimated_size_mib"] = runtime_size_mib
    content: dict[str, Any] = {
        "address": ADDRESS,
        "time": TIME,
        "allow_amend": False,
        "type": "vm-function",
        "code": code,
        "runtime": runtime,
        "on": {"http": True, "persistent": persistent},
        "environment": {"internet": internet, "aleph_api": True, "reproducible": False,
                        "shared_cache": False},
        "resources": {"vcpus": vcpus, "memory": memory, "seconds": 30},
        "volumes": [copy.deepcopy(v) for v in volumes],
    }
    if with_data or data_size_mib is not None:
        data: dict[str, Any] = {"encoding": "zip", "mount": "/data", "ref": DATA_REF,
                                "use_latest": True}
        if data_size_mib is not None:
            data["estimated_size_mib"] = data_size_mib
        content["data"] = data
    _with_payment(content, payment)
    content.update(copy.deepcopy(overrides))
    return content


def store_content(*, size: int | None = None, estimated_size_mib: Any = None,
                  payment: str | None = None, item_hash: str = STORE_REF,
                  **overrides: Any) -> dict:
    """A STORE content: `size` in bytes (as the network records it) and/or an estimate size."""
    content: dict[str, Any] = {
        "address": ADDRESS,
        "time": TIME,
        "item_type": "storage",
        "item_hash": item_hash,
    }
    if size is not None:
        content["size"] = size
    if estimated_size_mib is not None:
        content["estimated_size_mib"] = estimated_size_mib
    _with_payment(content, payment)
    content.update(copy.deepcopy(overrides))
    return content
