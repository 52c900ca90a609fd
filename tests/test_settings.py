"""Settings from the environment: the parsing helpers, and `check --deploy` with production values."""
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from credits_project import settings as project_settings

BASE_DIR = Path(__file__).resolve().parent.parent

PRODUCTION_ENV = {
    "DEBUG": "0",
    "ALLOWED_HOSTS": "credits.example.org",
    "CSRF_TRUSTED_ORIGINS": "https://credits.example.org",
    "SECURE_SSL_REDIRECT": "1",
    "SESSION_COOKIE_SECURE": "1",
    "CSRF_COOKIE_SECURE": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
    "DATABASE_URL": "postgres://credits:secret@db.example.org:5432/credits",
    "CELERY_BROKER_URL": "redis://redis.example.org:6379/0",
    "CACHE_URL": "redis://redis.example.org:6379/1",
}


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run manage.py in a fresh interpreter with only the given environment (plus PATH/HOME)."""
    base = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env={**base, "DJANGO_SETTINGS_MODULE": "credits_project.settings", **env},
        capture_output=True,
        text=True,
        timeout=180,
    )


def random_secret_key() -> str:
    return secrets.token_urlsafe(64)  # 86 characters, far more than 5 distinct ones


@pytest.mark.slow
def test_check_deploy_reports_no_issues_with_production_values():
    # given the variables the README lists for production
    env = {**PRODUCTION_ENV, "SECRET_KEY": random_secret_key()}

    # when
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    # then
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output


@pytest.mark.slow
def test_check_deploy_flags_the_built_in_secret_key():
    # given production values but no SECRET_KEY: the local-only default key is used
    env = dict(PRODUCTION_ENV)

    # when
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    # then
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "security.W009" in output


@pytest.mark.slow
def test_check_deploy_flags_a_missing_https_redirect():
    env = {**PRODUCTION_ENV, "SECRET_KEY": random_secret_key(), "SECURE_SSL_REDIRECT": "0"}

    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "security.W008" in output


def test_a_malformed_boolean_stops_the_service_at_start():
    result = run_manage("check", env={"DEBUG": "maybe"})

    assert result.returncode != 0
    assert "DEBUG must be a boolean" in result.stderr


def test_a_database_url_of_another_database_than_postgresql_stops_the_service_at_start():
    result = run_manage("check", env={"DATABASE_URL": "sqlite:///var/db.sqlite3"})

    assert result.returncode != 0
    assert "PostgreSQL is the only database supported" in result.stderr


def test_with_a_database_url_that_database_is_used_and_nothing_is_started(tmp_path):
    env = {"DATABASE_URL": "postgres://credits:secret@db.example.org:6543/credits",
           "CREDITS_VAR_DIR": str(tmp_path)}

    result = run_manage("shell", "-v", "0", "-c",
                        "from django.db import connection as c; "
                        "print(c.settings_dict['ENGINE'], c.settings_dict['HOST'], "
                        "c.settings_dict['PORT'], 'LOCALDB_DIR' in c.settings_dict)", env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.postgresql", "db.example.org", "6543",
                                     "False"]
    assert not (tmp_path / "postgres").exists()


def test_without_a_database_url_the_embedded_server_of_the_var_folder_is_used(tmp_path):
    result = run_manage("shell", "-v", "0", "-c",
                        "from django.db import connection as c; "
                        "print(c.settings_dict['ENGINE'], c.settings_dict['LOCALDB_DIR'])",
                        env={"CREDITS_VAR_DIR": str(tmp_path)})

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["credits_project.localdb", str(tmp_path / "postgres")]
    assert not (tmp_path / "postgres" / "data").exists()  # nothing connected: nothing started


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", "yes", "on", " On "])
def test_env_bool_reads_true(monkeypatch, raw):
    monkeypatch.setenv("CREDITS_TEST_FLAG", raw)

    assert project_settings.env_bool("CREDITS_TEST_FLAG", False) is True


@pytest.mark.parametrize("raw", ["0", "false", "no", "off", ""])
def test_env_bool_reads_false(monkeypatch, raw):
    monkeypatch.setenv("CREDITS_TEST_FLAG", raw)

    assert project_settings.env_bool("CREDITS_TEST_FLAG", True) is False


def test_env_bool_uses_the_default_when_unset(monkeypatch):
    monkeypatch.delenv("CREDITS_TEST_FLAG", raising=False)

    assert project_settings.env_bool("CREDITS_TEST_FLAG", True) is True
    assert project_settings.env_bool("CREDITS_TEST_FLAG", False) is False


@pytest.mark.parametrize("raw", ["maybe", "2", "tru", "enabled"])
def test_env_bool_rejects_anything_else_with_the_variable_name(monkeypatch, raw):
    monkeypatch.setenv("CREDITS_TEST_FLAG", raw)

    with pytest.raises(ImproperlyConfigured, match="CREDITS_TEST_FLAG must be a boolean"):
        project_settings.env_bool("CREDITS_TEST_FLAG", False)


def test_env_int_reads_an_integer_and_defaults_when_empty(monkeypatch):
    monkeypatch.setenv("CREDITS_TEST_NUMBER", "31536000")
    assert project_settings.env_int("CREDITS_TEST_NUMBER", 0) == 31536000

    monkeypatch.setenv("CREDITS_TEST_NUMBER", " ")
    assert project_settings.env_int("CREDITS_TEST_NUMBER", 7) == 7


@pytest.mark.parametrize("raw", ["ten", "1.5", "1e3"])
def test_env_int_rejects_a_non_integer(monkeypatch, raw):
    monkeypatch.setenv("CREDITS_TEST_NUMBER", raw)

    with pytest.raises(ImproperlyConfigured, match="CREDITS_TEST_NUMBER must be an integer"):
        project_settings.env_int("CREDITS_TEST_NUMBER", 0)


def test_env_list_splits_on_commas_and_drops_blanks(monkeypatch):
    monkeypatch.setenv("CREDITS_TEST_HOSTS", " credits.example.org, ,api.example.org,")

    hosts = project_settings.env_list("CREDITS_TEST_HOSTS", ["default"])

    assert hosts == ["credits.example.org", "api.example.org"]


def test_env_list_uses_the_default_only_when_unset(monkeypatch):
    monkeypatch.delenv("CREDITS_TEST_HOSTS", raising=False)
    assert project_settings.env_list("CREDITS_TEST_HOSTS", ["default"]) == ["default"]

    monkeypatch.setenv("CREDITS_TEST_HOSTS", "")
    assert project_settings.env_list("CREDITS_TEST_HOSTS", ["default"]) == []
