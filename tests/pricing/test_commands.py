"""`pricing_import` and `pricing_export`: the network's JSON in and out from the command line."""
import json
from datetime import datetime, timedelta, timezone
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from pricing.aggregate import version_to_aggregate, version_to_compatible_gpus
from pricing.enums import VersionStatus
from pricing.models import GpuDevice, PricingVersion, Product, Tier
from pricing.selectors import pricing_version_in_force

pytestmark = pytest.mark.django_db


def _write(path, document) -> str:
    path.write_text(document if isinstance(document, str) else json.dumps(document, default=str))
    return str(path)


def _run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _counts() -> tuple:
    return tuple(model.objects.count() for model in (PricingVersion, Product, Tier, GpuDevice))


# --- import --------------------------------------------------------------------------------------

def test_import_creates_a_draft_and_prints_its_id(tmp_path, pricing_aggregate,
                                                  compatible_gpus):
    pricing_file = _write(tmp_path / "pricing.json", {"data": {"pricing": pricing_aggregate}})
    settings_file = _write(tmp_path / "settings.json", {"compatible_gpus": compatible_gpus})

    out, err = _run("pricing_import", pricing_file, "--gpus", settings_file, "--name", "March")

    version = PricingVersion.objects.get(pk=int(out.strip()))
    assert (version.name, version.status) == ("March", VersionStatus.DRAFT)
    assert (version.products.count(), version.gpu_devices.count()) == (8, 18)
    assert f"Imported version #{version.pk}" in err


def test_import_without_a_gpu_file_copies_the_catalogue_in_force(tmp_path, default_version,
                                                                pricing_aggregate):
    out, _ = _run("pricing_import", _write(tmp_path / "p.json", pricing_aggregate))

    version = PricingVersion.objects.get(pk=int(out))
    assert version_to_compatible_gpus(version) == version_to_compatible_gpus(default_version)
    assert version.name.startswith("Imported from p.json")


def test_import_can_publish_at_a_given_date(tmp_path, time_machine, default_version,
                                            pricing_aggregate):
    time_machine.move_to(datetime(2026, 5, 1, tzinfo=timezone.utc), tick=False)

    out, _ = _run("pricing_import", _write(tmp_path / "p.json", pricing_aggregate),
                  "--publish", "--effective-from", "2026-06-01T00:00:00Z")

    version = PricingVersion.objects.get(pk=int(out))
    assert version.status == VersionStatus.PUBLISHED
    assert version.effective_from == datetime(2026, 6, 1, tzinfo=timezone.utc)
    assert pricing_version_in_force() == default_version


def test_import_publishing_now_puts_the_version_in_force(tmp_path, default_version,
                                                         pricing_aggregate):
    out, _ = _run("pricing_import", _write(tmp_path / "p.json", pricing_aggregate), "--publish")

    assert pricing_version_in_force().pk == int(out)


def test_an_invalid_file_prints_each_problem_on_its_own_line_and_creates_nothing(
        tmp_path, pricing_aggregate, compatible_gpus):
    pricing_aggregate["instance"]["price"]["compute_unit"]["credit"] = "abc"
    pricing_aggregate["program"]["compute_unit"]["memory_mib"] = 0
    compatible_gpus[0]["device_id"] = "10DE:26B9"
    before = _counts()
    err = StringIO()

    with pytest.raises(CommandError, match="3 problem"):
        call_command("pricing_import", _write(tmp_path / "p.json", pricing_aggregate),
                     "--gpus", _write(tmp_path / "s.json", compatible_gpus), stderr=err)

    assert err.getvalue().splitlines() == [
        "program.compute_unit.memory_mib: 0 is less than 1",
        'instance.price.compute_unit.credit: "abc" is not a decimal number',
        'compatible_gpus[0].device_id: "10DE:26B9" is not a PCI device id (lowercase '
        "vendor:device hex, e.g. 10de:2684)",
    ]
    assert _counts() == before


def test_a_file_that_is_not_json_is_refused_with_its_position(tmp_path):
    err = StringIO()

    with pytest.raises(CommandError):
        call_command("pricing_import", _write(tmp_path / "p.json", '{"program": }'), stderr=err)

    assert "not valid JSON: Expecting value (line 1 column 13)" in err.getvalue()


def test_a_missing_file_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("pricing_import", str(tmp_path / "absent.json"))


def test_a_publish_that_fails_leaves_no_draft_behind(tmp_path, pricing_aggregate):
    before = _counts()

    with pytest.raises(CommandError, match="in the past"):
        call_command("pricing_import", _write(tmp_path / "p.json", pricing_aggregate),
                     "--publish", "--effective-from", "2020-01-01T00:00:00Z", stderr=StringIO())

    assert _counts() == before


@pytest.mark.parametrize("args, message", [
    (["--effective-from", "2030-01-01T00:00:00Z"], "only makes sense with --publish"),
    (["--publish", "--effective-from", "next monday"], "is not an ISO 8601 date"),
])
def test_bad_options_are_command_errors(tmp_path, pricing_aggregate, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("pricing_import", _write(tmp_path / "p.json", pricing_aggregate), *args)


# --- export --------------------------------------------------------------------------------------

def test_export_prints_the_version_in_force_as_the_pricing_aggregate(default_version):
    out, _ = _run("pricing_export")

    assert json.loads(out) == version_to_aggregate(default_version)


def test_export_of_the_gpu_catalogue_has_the_settings_shape(default_version):
    out, _ = _run("pricing_export", "--gpus")

    assert json.loads(out) == {"compatible_gpus": version_to_compatible_gpus(default_version)}


def test_export_of_a_chosen_version_to_a_file(tmp_path, default_version, draft_version):
    draft_version.products.filter(product_type="storage").update(price_storage_hold_per_mib=1)
    target = tmp_path / "out.json"

    _run("pricing_export", "--version", str(draft_version.pk), "-o", str(target))

    exported = json.loads(target.read_text())
    assert exported["storage"]["price"]["storage"]["holding"] == "1"
    assert exported == version_to_aggregate(draft_version)


def test_export_of_an_unknown_version_is_a_command_error(db):
    with pytest.raises(CommandError, match="No pricing version 987654"):
        call_command("pricing_export", "--version", "987654")


def test_export_without_a_version_in_force_is_a_command_error(default_version, time_machine):
    time_machine.move_to(datetime(2019, 1, 1, tzinfo=timezone.utc), tick=False)

    with pytest.raises(CommandError, match="No pricing version is in force"):
        call_command("pricing_export")


def test_exported_files_import_back_to_an_identical_version(tmp_path, default_version):
    pricing_file, settings_file = tmp_path / "pricing.json", tmp_path / "settings.json"
    _run("pricing_export", "-o", str(pricing_file))
    _run("pricing_export", "--gpus", "-o", str(settings_file))

    out, _ = _run("pricing_import", str(pricing_file), "--gpus", str(settings_file),
                  "--publish", "--effective-from",
                  (datetime.now(timezone.utc) + timedelta(days=1)).isoformat())

    version = PricingVersion.objects.get(pk=int(out))
    assert version_to_aggregate(version) == version_to_aggregate(default_version)
    assert version_to_compatible_gpus(version) == version_to_compatible_gpus(default_version)
