"""`manage.py create_api_key`: prints the key once as its last line; refuses scope/account
combinations the key model forbids."""
import os
import subprocess
import sys
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from credits.models import Account, ApiKey

pytestmark = pytest.mark.django_db

LOWER_ADDRESS = "0x5c4e1b5d3ad6d0fe2df5f13e2a2ee0dd5b7a4a11"
CHECKSUMMED = "0x5c4E1b5D3ad6D0FE2DF5F13E2a2eE0Dd5b7a4a11"


def _run(*args) -> list[str]:
    out = StringIO()
    call_command("create_api_key", *args, stdout=out)
    return out.getvalue().splitlines()


@pytest.mark.parametrize("scope", ["service", "operator"])
def test_the_last_line_is_a_key_that_authenticates_a_request(client, scope):
    # when
    lines = _run("--scope", scope, "--name", f"{scope} automation")

    # then
    key = lines[-1]
    assert key == key.strip() and " " not in key
    api_key = ApiKey.objects.get_from_key(key)
    assert (api_key.scope, api_key.name, api_key.account) == (scope, f"{scope} automation", None)
    assert all(key not in line for line in lines[:-1])
    response = client.get("/api/v1/health", HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert response.status_code == 200
    assert client.get("/api/v1/health",
                      HTTP_AUTHORIZATION=f"Api-Key {key}x").status_code == 401


def test_an_owner_key_is_bound_to_the_checksummed_account_which_is_created(client):
    lines = _run("--scope", "owner", "--account", LOWER_ADDRESS, "--name", "alice")

    api_key = ApiKey.objects.get_from_key(lines[-1])
    assert api_key.account == Account.objects.get(address=CHECKSUMMED)
    assert CHECKSUMMED in lines[0]


def test_the_plain_key_is_not_stored():
    key = _run("--scope", "service", "--name", "svc")[-1]

    stored = " ".join(str(value) for value in ApiKey.objects.values_list().get())
    assert key not in stored and key.partition(".")[2] not in stored


def test_an_expiry_is_stored():
    key = _run("--scope", "operator", "--name", "ops", "--expires", "2999-01-01T00:00:00Z")[-1]

    assert ApiKey.objects.get_from_key(key).expiry_date.isoformat() == "2999-01-01T00:00:00+00:00"


@pytest.mark.parametrize(("args", "message"), [
    (("--scope", "owner", "--name", "x"), "An owner key needs --account ADDRESS."),
    (("--scope", "service", "--account", LOWER_ADDRESS, "--name", "x"),
     "A service key is not bound to an account: drop --account."),
    (("--scope", "operator", "--account", LOWER_ADDRESS, "--name", "x"),
     "A operator key is not bound to an account: drop --account."),
    (("--scope", "owner", "--account", "0xnothex", "--name", "x"), "not a valid EVM address"),
    (("--scope", "service", "--name", "x", "--expires", "2001-01-01T00:00:00Z"),
     "--expires must be in the future."),
    (("--scope", "service", "--name", "x", "--expires", "tomorrow"), "not an ISO 8601 date"),
    (("--scope", "service", "--name", "x" * 51), "--name must be 1 to 50 characters."),
])
def test_refused_combinations_create_nothing(args, message):
    with pytest.raises(CommandError, match=message.replace(".", r"\.")):
        _run(*args)

    assert not ApiKey.objects.exists()
    assert not Account.objects.exists()


def test_an_unknown_scope_is_refused():
    with pytest.raises(CommandError, match="invalid choice"):
        _run("--scope", "admin", "--name", "x")


def test_refusal_exits_non_zero_from_the_command_line(tmp_path):
    """The real process: a refusal is a non-zero exit with the reason on stderr."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "credits_project.settings"}
    result = subprocess.run(
        [sys.executable, str(settings.BASE_DIR / "manage.py"), "create_api_key",
         "--scope", "owner", "--name", "x"],
        capture_output=True, text=True, env=env, timeout=120, check=False)

    assert result.returncode != 0
    assert "An owner key needs --account ADDRESS." in result.stderr
