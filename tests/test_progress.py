"""Progress bars of the long commands: drawn on a terminal (a fake one here: an object whose
isatty() is True), nothing at all in a pipe or a log; the services only call back with counts."""
import json
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import OutputWrapper

from credits.selectors.ledger import LEDGER_CHECK_COUNT, ledger_drifts
from credits.services.lifecycle import lifecycle_run
from credits_project.progress import SilentBar, progress, progress_bar
from pricing.defaults import DEFAULT_PRICE_AGGREGATE
from tests.bench_module import lifecycle_bench
from tests.credits.conftest import T0
from tests.credits.test_lifecycle_tasks import E1_PER_DAY, address_of, grant, register

ROOT = Path(__file__).resolve().parent.parent


class FakeTerminal(StringIO):
    """Collects what is written, and says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _progress_allowed(monkeypatch):
    """Whatever the environment the tests run in: bars are not switched off by it."""
    monkeypatch.delenv("NO_PROGRESS", raising=False)
    monkeypatch.setenv("TERM", "xterm")


@pytest.fixture
def five_accounts(settings, default_version):
    """Five accounts with a funded credit VM each; `lifecycle_run` may act at T0 + 1 h 5 min."""
    settings.LIFECYCLE_ALLOW_TIME_TRAVEL = True
    for number in range(5):
        at = T0 + timedelta(seconds=number)
        grant(address_of(number), 5 * E1_PER_DAY, at, reference=f"progress-{number}")
        register(at, address_of(number), tag="a")
    return T0 + timedelta(hours=1, minutes=5)


def pricing_file(tmp_path) -> str:
    path = tmp_path / "pricing.json"
    path.write_text(json.dumps(DEFAULT_PRICE_AGGREGATE, default=str))
    return str(path)


# --- the helper ------------------------------------------------------------------------------

def test_the_bar_is_a_silent_stand_in_when_the_stream_is_not_a_terminal():
    pipe = StringIO()

    with progress(desc="work", total=5, unit="steps", file=pipe) as bar:
        bar.update(3)
        bar.set_postfix(step="three")

    assert isinstance(bar, SilentBar)
    assert pipe.getvalue() == ""


def test_the_bar_draws_its_count_and_rate_on_a_terminal():
    terminal = FakeTerminal()

    with progress(desc="work", total=5, unit="steps", file=terminal) as bar:
        bar.update(2)
        bar.update(1)
        bar.set_postfix(step="three")

    drawn = terminal.getvalue()
    assert "work" in drawn
    assert "3/5" in drawn
    assert "steps/s" in drawn  # the rate
    assert "step=three" in drawn


def test_a_bar_without_total_counts_and_gives_a_rate():
    terminal = FakeTerminal()

    with progress(desc="lifecycle run", unit="accounts", file=terminal) as bar:
        bar.update(40)
        bar.update(2)

    drawn = terminal.getvalue()
    assert "42accounts" in drawn.replace(" ", "")
    assert "accounts/s" in drawn


@pytest.mark.parametrize("variable, value", [("NO_PROGRESS", "1"), ("TERM", "dumb")])
def test_the_environment_turns_bars_off_even_on_a_terminal(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    terminal = FakeTerminal()

    bar = progress_bar(desc="work", total=5, file=terminal)
    bar.update(5)
    bar.close()

    assert isinstance(bar, SilentBar)
    assert terminal.getvalue() == ""


def test_no_progress_set_to_zero_or_empty_keeps_bars(monkeypatch):
    monkeypatch.setenv("NO_PROGRESS", "0")

    bar = progress_bar(desc="work", total=5, file=FakeTerminal())
    bar.close()

    assert not isinstance(bar, SilentBar)


def test_the_caller_can_turn_the_bar_off_on_a_terminal():
    terminal = FakeTerminal()

    with progress(desc="work", total=5, file=terminal, enabled=False) as bar:
        bar.update(5)

    assert terminal.getvalue() == ""


def test_the_default_stream_is_stderr_as_it_is_when_the_bar_is_made(monkeypatch):
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)

    with progress(desc="work", total=2) as bar:
        bar.update(2)

    assert "2/2" in terminal.getvalue()


def test_a_commands_stream_gets_the_bar_unstyled_and_without_a_newline_per_redraw():
    terminal = FakeTerminal()
    wrapper = OutputWrapper(terminal)
    wrapper.style_func = lambda text: f"<red>{text}</red>"  # as a command's stderr on a colour tty

    with progress(desc="work", total=3, file=wrapper) as bar:
        for _ in range(3):
            bar.update(1)

    drawn = terminal.getvalue()
    assert "3/3" in drawn
    assert "<red>" not in drawn
    assert drawn.count("\n") == 1  # the bar's last state is kept, on one line


# --- the services call back with counts ------------------------------------------------------

def test_the_lifecycle_run_reports_every_account_it_processed_batch_by_batch(five_accounts):
    reported = []

    run = lifecycle_run(at=five_accounts, batch_size=2, on_progress=reported.append)

    assert run.accounts == 5
    assert reported == [2, 2, 1]
    assert sum(reported) == run.accounts


def test_a_dry_run_reports_its_accounts_too(five_accounts):
    reported = []

    run = lifecycle_run(at=five_accounts, dry_run=True, batch_size=3,
                        on_progress=reported.append)

    assert reported == [3, 2]
    assert sum(reported) == run.accounts


def test_the_ledger_check_reports_each_of_its_checks(db):
    reported = []

    assert ledger_drifts(at=T0, on_progress=reported.append) == []

    assert reported == [1] * LEDGER_CHECK_COUNT


# --- the commands: nothing extra when not on a terminal, a bar on one -----------------------

def test_run_lifecycle_prints_no_progress_when_stderr_is_not_a_terminal(five_accounts,
                                                                        time_machine):
    time_machine.move_to(five_accounts, tick=False)
    out, err = StringIO(), StringIO()

    call_command("run_lifecycle", stdout=out, stderr=err)

    assert err.getvalue() == ""
    assert out.getvalue().count("\n") == 1
    assert ": 5 accounts, 5 resources" in out.getvalue()


def test_run_lifecycle_draws_a_bar_of_accounts_on_a_terminal(five_accounts, time_machine):
    time_machine.move_to(five_accounts, tick=False)
    out, terminal = StringIO(), FakeTerminal()

    call_command("run_lifecycle", stdout=out, stderr=terminal)

    assert "lifecycle run" in terminal.getvalue()
    assert "5accounts" in terminal.getvalue().replace(" ", "")
    assert ": 5 accounts, 5 resources" in out.getvalue()  # the summary as without a bar


def test_a_sharded_run_lifecycle_draws_one_bar_over_its_shards(five_accounts, time_machine):
    time_machine.move_to(five_accounts, tick=False)
    out, terminal = StringIO(), FakeTerminal()

    call_command("run_lifecycle", "--shards", "2", stdout=out, stderr=terminal)

    assert "5accounts" in terminal.getvalue().replace(" ", "")
    assert ", 2 shards: 5 accounts, 5 resources" in out.getvalue()


def test_run_lifecycle_with_verbosity_zero_draws_no_bar_on_a_terminal(five_accounts,
                                                                      time_machine):
    time_machine.move_to(five_accounts, tick=False)
    terminal = FakeTerminal()

    call_command("run_lifecycle", "-v", "0", stdout=StringIO(), stderr=terminal)

    assert terminal.getvalue() == ""


def test_check_ledger_prints_no_progress_when_stderr_is_not_a_terminal(five_accounts):
    out, err = StringIO(), StringIO()

    call_command("check_ledger", "--at", "2030-01-01T00:00:10Z", stdout=out, stderr=err)

    assert err.getvalue() == ""
    assert out.getvalue().startswith("Ledger OK at 2030-01-01T00:00:10+00:00: 5 accounts")
    assert out.getvalue().count("\n") == 1


def test_check_ledger_draws_a_bar_of_its_checks_on_a_terminal(five_accounts):
    terminal = FakeTerminal()

    call_command("check_ledger", stdout=StringIO(), stderr=terminal)

    assert f"{LEDGER_CHECK_COUNT}/{LEDGER_CHECK_COUNT}" in terminal.getvalue()
    assert "checks" in terminal.getvalue()


def test_pricing_import_prints_only_its_summary_when_stderr_is_not_a_terminal(tmp_path,
                                                                             default_version):
    out, err = StringIO(), StringIO()

    call_command("pricing_import", pricing_file(tmp_path), "--name", "Piped", stdout=out,
                 stderr=err)

    version_id = int(out.getvalue())
    assert err.getvalue() == f"Imported version #{version_id} “Piped” (draft).\n"


def test_pricing_import_draws_a_bar_of_its_steps_on_a_terminal(tmp_path, default_version):
    out, terminal = StringIO(), FakeTerminal()

    call_command("pricing_import", pricing_file(tmp_path), "--name", "Watched", stdout=out,
                 stderr=terminal)

    assert "2/2" in terminal.getvalue()  # read, import
    assert terminal.getvalue().endswith(
        f"Imported version #{int(out.getvalue())} “Watched” (draft).\n")


# --- the bench's data generators -------------------------------------------------------------

def bench_module():
    return lifecycle_bench()


@pytest.mark.parametrize("stream, drawn", [(StringIO, False), (FakeTerminal, True)])
def test_the_bench_generation_phases_draw_a_bar_on_a_terminal_only(monkeypatch, stream, drawn):
    stderr = stream()
    monkeypatch.setattr(sys, "stderr", stderr)
    phase = bench_module().Progress("accounts", 5000)

    phase.update(2500)
    seconds = phase.finish()

    assert seconds >= 0
    assert ("5.00k/5.00k" in stderr.getvalue()) is drawn
    assert (stderr.getvalue() != "") is drawn
