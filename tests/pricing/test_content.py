"""Parsing Aleph contents: network content is accepted unchanged, anything else is refused with
`ContentInvalid` listing every problem as {loc, msg, type}."""
import copy

import pytest

from pricing.content import ContentInvalid, parse_content
from tests.pricing.contents import (
    immutable_volume,
    instance_content,
    persistent_volume,
    program_content,
    store_content,
)

# Contents as the network's SDK posts them: explicit nulls, every optional key spelled out.
NODE_HASH = "dc3d1d194a990b5c54380c3c0439562fefa42f5a46807cba1c500ec3affecf04"
NETWORK_INSTANCE = {
    "address": "0xB34f25f2c935bCA437C061547eA12851d719dEFb",
    "time": 1726058735.463,
    "allow_amend": False,
    "metadata": {"name": "my-debian-vm"},
    "authorized_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0p5s0lkzzz user@laptop"],
    "variables": None,
    "environment": {"reproducible": False, "internet": True, "aleph_api": True,
                    "shared_cache": False, "hypervisor": "qemu", "trusted_execution": None},
    "resources": {"vcpus": 2, "memory": 4096, "seconds": 30, "published_ports": None},
    "payment": {"chain": "BASE", "receiver": "0xA07B1214bAe0D5ccAA25449C3149c0aC83658874",
                "type": "superfluid"},
    "requirements": {"cpu": None, "gpu": None,
                     "node": {"owner": None, "address_regex": None, "terms_and_conditions": None,
                              "node_hash": NODE_HASH}},
    "volumes": [],
    "replaces": None,
    "rootfs": {"parent": {"ref": "5330dcefe1857bbd61a8b2b8d5a1a4d4e1b3b6f1b0e8a2f9c4d7e3b5a6c8d9e0",
                          "use_latest": True},
               "persistence": "host", "size_mib": 20480, "forgotten_by": None},
}

NETWORK_PROGRAM = {
    "address": "0xB34f25f2c935bCA437C061547eA12851d719dEFb",
    "time": 1726058800.0,
    "allow_amend": False,
    "metadata": None,
    "authorized_keys": None,
    "variables": {"LOG_LEVEL": "info"},
    "type": "vm-function",
    "code": {"encoding": "zip", "entrypoint": "main:app", "interface": None, "args": None,
             "ref": "7eb2eca2378ea8855336ed76c8b26219f1cb90234d04441de9cf8cb1c649d003",
             "use_latest": True},
    "runtime": {"ref": "63f07193e6ee9d207b7d1fcf8286f9aee34e6f12f101d2ec77c1229f92964696",
                "use_latest": True, "comment": "Aleph Alpine Linux with Python 3.12"},
    "data": None,
    "export": None,
    "on": {"http": True, "message": None, "persistent": False},
    "environment": {"reproducible": False, "internet": True, "aleph_api": True,
                    "shared_cache": False},
    "resources": {"vcpus": 1, "memory": 256, "seconds": 30, "published_ports": None},
    "payment": {"chain": "ETH", "receiver": None, "type": "hold"},
    "requirements": None,
    "volumes": [
        {"comment": "Python packages", "mount": "/opt/packages", "use_latest": True,
         "ref": "5f31b0706f59404fad3d0bff97ef89ddf24da4761608ea0646329362c662ba51"},
        {"comment": None, "mount": "/var/lib/example", "parent": None, "persistence": "host",
         "name": "data", "size_mib": 5},
        {"comment": None, "mount": "/tmp/scratch", "ephemeral": True, "size_mib": 100},
    ],
    "replaces": None,
}

NETWORK_STORE = {
    "address": "0xB34f25f2c935bCA437C061547eA12851d719dEFb",
    "time": 1726058600.25,
    "item_type": "storage",
    "item_hash": "7eb2eca2378ea8855336ed76c8b26219f1cb90234d04441de9cf8cb1c649d003",
    "size": 1_572_864,
    "content_type": "file",
    "ref": None,
    "metadata": {"name": "app.zip"},
    "payment": {"chain": "ETH", "receiver": None, "type": "credit"},
}

NETWORK_IPFS_STORE = {
    "address": "0xB34f25f2c935bCA437C061547eA12851d719dEFb",
    "time": 1726058600.25,
    "item_type": "ipfs",
    "item_hash": "QmWVMqSkFRrGTYmuxrFzyChdSb7hbYRMR3AjeBJdQMnvrN",
}


def _invalid(message_type, content, *, estimate=True) -> ContentInvalid:
    with pytest.raises(ContentInvalid) as caught:
        parse_content(message_type, content, estimate=estimate)
    return caught.value


def _error_at(error: ContentInvalid, loc: str) -> dict:
    matches = [entry for entry in error.errors if entry["loc"] == loc]
    assert matches, f"no error at {loc!r} in {error.errors}"
    return matches[0]


# --- network content is accepted unchanged -------------------------------------------------------

@pytest.mark.parametrize("estimate", [False, True])
@pytest.mark.parametrize("message_type, content", [
    ("INSTANCE", NETWORK_INSTANCE),
    ("PROGRAM", NETWORK_PROGRAM),
    ("STORE", NETWORK_STORE),
    ("STORE", NETWORK_IPFS_STORE),
])
def test_network_content_is_accepted_unchanged_for_registration_and_estimate(
        message_type, content, estimate):
    before = copy.deepcopy(content)

    parsed = parse_content(message_type, content, estimate=estimate)

    assert parsed.address == content["address"]
    assert parsed.time == content["time"]
    assert content == before  # parsing does not touch the caller's dict


def test_network_instance_keeps_its_resources_payment_and_rootfs():
    parsed = parse_content("INSTANCE", NETWORK_INSTANCE, estimate=False)

    assert (parsed.resources.vcpus, parsed.resources.memory) == (2, 4096)
    assert parsed.payment.type.value == "superfluid"
    assert parsed.rootfs.size_mib == 20480
    assert parsed.requirements.node.node_hash == NODE_HASH


def test_network_program_volumes_parse_as_immutable_persistent_and_ephemeral():
    parsed = parse_content("PROGRAM", NETWORK_PROGRAM, estimate=False)

    kinds = [type(volume).__name__ for volume in parsed.volumes]
    assert kinds == ["ImmutableVolume", "PersistentVolume", "EphemeralVolume"]
    assert parsed.on.persistent is False


def test_network_store_keeps_its_byte_size_and_credit_payment():
    parsed = parse_content("STORE", NETWORK_STORE, estimate=False)

    assert parsed.size == 1_572_864
    assert parsed.payment.type.value == "credit"


def test_an_estimate_may_leave_out_time_and_allow_amend_but_a_registration_may_not():
    content = instance_content()
    del content["time"], content["allow_amend"]

    parsed = parse_content("INSTANCE", content, estimate=True)
    error = _invalid("INSTANCE", content, estimate=False)

    assert parsed.time is None
    assert {entry["loc"] for entry in error.errors} == {"time", "allow_amend"}


# --- refused content ---------------------------------------------------------------------------

@pytest.mark.parametrize("path, value, loc, error_type", [
    (("resources", "vcpus"), "two", "resources.vcpus", "int_parsing"),
    (("resources", "vcpus"), 0, "resources.vcpus", "greater_than_equal"),
    (("resources", "vcpus"), 10_000, "resources.vcpus", "less_than_equal"),
    (("resources", "memory"), -2048, "resources.memory", "greater_than_equal"),
    (("resources", "memory"), 10 ** 9, "resources.memory", "less_than_equal"),
    (("rootfs", "size_mib"), -1, "rootfs.size_mib", "greater_than"),
    (("rootfs", "size_mib"), 0, "rootfs.size_mib", "greater_than"),
    (("rootfs", "size_mib"), 10 ** 12, "rootfs.size_mib", "less_than_equal"),
    (("rootfs", "size_mib"), 20480.0, "rootfs.size_mib", "int_type"),   # sizes are strict ints
    (("rootfs", "size_mib"), "20480", "rootfs.size_mib", "int_type"),
    (("rootfs", "parent", "ref"), "not-a-hash", "rootfs.parent.ref", "value_error"),
    (("payment", "type"), "bitcoin", "payment.type", "enum"),
    (("environment", "internet"), "maybe", "environment.internet", "bool_parsing"),
])
def test_instance_with_a_wrong_value_is_refused_with_where_and_why(path, value, loc, error_type):
    content = instance_content()
    target = content
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value

    error = _invalid("INSTANCE", content)

    entry = _error_at(error, loc)
    assert entry["type"] == error_type
    assert entry["msg"]
    assert error.message.startswith(f"content is not a valid INSTANCE content: {loc}: ")


def test_errors_say_where_and_why_without_echoing_the_input():
    content = instance_content()
    content["resources"]["vcpus"] = "<script>alert(1)</script>"

    error = _invalid("INSTANCE", content)

    assert error.errors and all(set(entry) == {"loc", "msg", "type"} for entry in error.errors)
    assert "<script>" not in str(error.errors)


def test_every_problem_is_listed_not_only_the_first():
    content = instance_content()
    content["resources"]["vcpus"] = "two"
    content["rootfs"]["size_mib"] = -1
    del content["address"]

    error = _invalid("INSTANCE", content)

    locs = {entry["loc"] for entry in error.errors}
    assert {"resources.vcpus", "rootfs.size_mib", "address"} <= locs
    assert "(and 2 more)" in error.message


def test_too_many_volumes_are_refused():
    content = instance_content(volumes=[persistent_volume(1)] * 257)

    error = _invalid("INSTANCE", content)

    assert _error_at(error, "volumes")["type"] == "too_long"


def test_an_error_list_is_capped_at_fifty_entries():
    content = instance_content(volumes=[{"size_mib": "x"}] * 100)

    error = _invalid("INSTANCE", content)

    assert len(error.errors) == 50
    assert "(and 49 more)" in error.message


def test_a_persistent_volume_larger_than_2_tib_is_refused():
    content = instance_content(volumes=[persistent_volume(3 * 1024 * 1024)])

    error = _invalid("INSTANCE", content)

    assert _error_at(error, "volumes.0.PersistentVolume.size_mib")["type"] == "less_than_equal"


@pytest.mark.parametrize("message_type, content, loc", [
    ("INSTANCE", instance_content(colour="blue"), "colour"),
    ("PROGRAM", program_content(code_size_mib=1, runtime_size_mib=1, colour="blue"), "colour"),
    ("PROGRAM", program_content(code_size_mib=1, runtime_size_mib=1,
                                on={"http": True, "cron": "*/5 * * * *"}), "on.cron"),
])
def test_unknown_fields_of_executable_content_are_refused(message_type, content, loc):
    error = _invalid(message_type, content)

    assert _error_at(error, loc)["type"] == "extra_forbidden"


def test_unknown_fields_of_a_store_are_dropped_as_the_network_does():
    parsed = parse_content("STORE", store_content(size=10, legacy_field="x"), estimate=False)

    assert not hasattr(parsed, "legacy_field")


@pytest.mark.parametrize("changes, loc, error_type", [
    ({"size": -1}, "size", "greater_than_equal"),
    ({"size": 1024 ** 5 + 1}, "size", "less_than_equal"),
    ({"size": "big"}, "size", "int_parsing"),
    ({"estimated_size_mib": -5}, "estimated_size_mib", "greater_than_equal"),
    ({"estimated_size_mib": 1024 ** 3 + 1}, "estimated_size_mib", "less_than_equal"),
    ({"estimated_size_mib": "NaN"}, "estimated_size_mib", "finite_number"),
    ({"estimated_size_mib": "Infinity"}, "estimated_size_mib", "finite_number"),
    ({"item_hash": "zz"}, "item_hash", "value_error"),
    ({"payment": "superfluid"}, "payment", "value_error"),
])
def test_store_estimate_with_a_wrong_value_is_refused(changes, loc, error_type):
    error = _invalid("STORE", store_content(**changes))

    assert _error_at(error, loc)["type"] == error_type


def test_program_estimated_size_must_be_a_positive_int_within_two_tib():
    for value, error_type in ((1.5, "int_type"), (0, "greater_than_equal"),
                              (3 * 1024 * 1024, "less_than_equal"), ("5", "int_type")):
        content = program_content(code_size_mib=value, runtime_size_mib=1)

        error = _invalid("PROGRAM", content)

        assert _error_at(error, "code.estimated_size_mib")["type"] == error_type


@pytest.mark.parametrize("message_type", ["AGGREGATE", "POST", "instance", "", None])
def test_an_unknown_message_type_is_refused(message_type):
    error = _invalid(message_type, instance_content())

    assert error.errors == []
    assert "Unknown message type" in error.message
    assert "INSTANCE, PROGRAM, STORE" in error.message


@pytest.mark.parametrize("content", [None, [], ["INSTANCE"], "content", 42, True])
def test_content_that_is_not_an_object_is_refused(content):
    error = _invalid("INSTANCE", content)

    assert error.message == "content must be a JSON object."
    assert error.errors == []


# --- estimate-only fields ----------------------------------------------------------------------

def test_estimated_size_of_an_immutable_volume_is_refused_outside_an_estimate():
    content = instance_content(volumes=[immutable_volume(estimated_size_mib=512)])

    error = _invalid("INSTANCE", content, estimate=False)

    entry = _error_at(error, "volumes.0.ImmutableVolume.estimated_size_mib")
    assert entry["type"] == "extra_forbidden"


def test_estimated_sizes_of_program_parts_are_not_kept_outside_an_estimate():
    # The network's CodeContent, FunctionRuntime and DataContent ignore unknown keys, so a
    # registration cannot be refused for them; what matters is that they are never used.
    content = program_content(code_size_mib=5, runtime_size_mib=6, data_size_mib=7)

    parsed = parse_content("PROGRAM", content, estimate=False)

    for part in (parsed.code, parsed.runtime, parsed.data):
        assert getattr(part, "estimated_size_mib", None) is None


def test_estimated_size_of_a_store_is_not_kept_outside_an_estimate():
    parsed = parse_content("STORE", store_content(estimated_size_mib=10), estimate=False)

    assert getattr(parsed, "estimated_size_mib", None) is None


def test_estimated_sizes_are_kept_in_an_estimate():
    program = parse_content("PROGRAM", program_content(code_size_mib=5, runtime_size_mib=6,
                                                       data_size_mib=7), estimate=True)
    store = parse_content("STORE", store_content(estimated_size_mib="1.5"), estimate=True)
    instance = parse_content("INSTANCE", instance_content(
        volumes=[immutable_volume(estimated_size_mib=512)]), estimate=True)

    assert (program.code.estimated_size_mib, program.runtime.estimated_size_mib,
            program.data.estimated_size_mib) == (5, 6, 7)
    assert str(store.estimated_size_mib) == "1.5"
    assert instance.volumes[0].estimated_size_mib == 512
