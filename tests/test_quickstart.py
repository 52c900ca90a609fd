"""The quick start: the demo login command, the scripts, and a README that matches the code."""
import re
import subprocess
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

BASE_DIR = Path(__file__).resolve().parent.parent
README = (BASE_DIR / "README.md").read_text()


def call_ensure_demo_admin() -> str:
    from io import StringIO

    out = StringIO()
    call_command("ensure_demo_admin", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_demo_admin_is_created_once_and_its_password_printed_once(settings):
    # given
    settings.DEBUG = True

    # when
    first = call_ensure_demo_admin()
    second = call_ensure_demo_admin()

    # then
    password = re.search(r"password: (\S+)", first).group(1)
    user = get_user_model().objects.get(username="admin")
    assert user.is_staff and user.is_superuser
    assert user.check_password(password)
    assert password not in second
    assert "already exists" in second and "changepassword admin" in second
    assert get_user_model().objects.filter(username="admin").count() == 1


@pytest.mark.django_db
def test_two_demo_logins_get_different_passwords(settings):
    settings.DEBUG = True
    first = call_ensure_demo_admin()
    get_user_model().objects.all().delete()

    second = call_ensure_demo_admin()

    assert re.search(r"password: (\S+)", first).group(1) != re.search(
        r"password: (\S+)", second).group(1)


@pytest.mark.django_db
def test_demo_admin_is_refused_when_debug_is_off(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG off"):
        call_ensure_demo_admin()

    assert not get_user_model().objects.exists()


def quick_start_block() -> list[str]:
    section = README.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", section, flags=re.M | re.S)
    assert blocks, "no code block under ## Quick start"
    return [line for line in blocks[0].splitlines() if line.strip()]


def test_readme_quick_start_is_one_block_of_two_commands():
    section = README.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    first_block_start = section.index("```")
    assert section[:first_block_start].strip() == "", "the code block must follow the heading"

    assert quick_start_block() == ["bash scripts/quickstart.sh", "bash scripts/test.sh"]


@pytest.mark.parametrize("script", ["scripts/quickstart.sh", "scripts/test.sh", "scripts/venv.sh",
                                    ".ci/run"])
def test_scripts_are_executable_bash_without_syntax_errors(script):
    path = BASE_DIR / script

    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
    assert path.stat().st_mode & 0o111, f"{script} is not executable"
    assert path.read_text().startswith("#!/usr/bin/env bash\n")


def test_ci_runs_the_readme_test_command():
    ci = (BASE_DIR / ".ci" / "run").read_text()

    assert "set -euo pipefail" in ci
    assert 'exec bash scripts/test.sh "$@"' in ci


def test_a_web_address_in_use_stops_the_quick_start_with_one_line_before_anything_starts(
        tmp_path):
    import os
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        env = {"PATH": os.environ["PATH"], "DEV_ADDR": address, "CREDITS_VAR_DIR": str(tmp_path)}

        result = subprocess.run(["bash", str(BASE_DIR / "scripts" / "quickstart.sh")], env=env,
                                capture_output=True, text=True, timeout=60)

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"[quickstart] error: {address} is in use or not an address (another quick start?): "
        "choose another, e.g. DEV_ADDR=127.0.0.1:8001 bash scripts/quickstart.sh"]
    assert list(tmp_path.iterdir()) == []  # no database, no broker folders


def test_quickstart_never_creates_the_demo_login_with_debug_off():
    script = (BASE_DIR / "scripts" / "quickstart.sh").read_text()

    guarded = re.search(r'if \[ "\$debug_on" = 1 \]; then\s+\$PY manage.py ensure_demo_admin', script)

    assert guarded, "ensure_demo_admin must only run when settings.DEBUG is on"


def settings_environment_variables() -> set[str]:
    source = (BASE_DIR / "credits_project" / "settings.py").read_text()
    pattern = r'(?:os\.environ\.get|env_bool|env_int|env_list|env_rate)\(\s*"([A-Z][A-Z0-9_]*)"'
    return set(re.findall(pattern, source))


def test_readme_documents_every_environment_variable_of_the_settings():
    names = settings_environment_variables()
    table = README.split("## Configuration (production)", 1)[1]

    undocumented = sorted(name for name in names if f"| `{name}` |" not in table)

    assert len(names) > 20  # the pattern still finds the settings' variables
    assert undocumented == [], f"add these to the README's configuration table: {undocumented}"
