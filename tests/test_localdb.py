"""The embedded PostgreSQL (credits_project.localdb): started on demand, shared by the processes
of one checkout, stopped by the last of them, recovered after a crash, one clear line for every
fault. Each test runs real servers in folders of its own."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2
import pytest

from credits_project.localdb import LocalDbError, LocalServer

BASE_DIR = Path(__file__).resolve().parent.parent
PG15_BIN = Path("/usr/lib/postgresql/15/bin")
ENV_WITHOUT_DATABASE = {key: value for key, value in os.environ.items()
                        if key not in ("DATABASE_URL", "CREDITS_VAR_DIR")}

pytestmark = pytest.mark.slow


@pytest.fixture
def folder():
    with tempfile.TemporaryDirectory(prefix="credits-localdb-") as path:
        os.chmod(path, 0o755)  # the server's own user (when root) must reach it
        yield Path(path)
        for run in Path(path).glob("**/run"):
            server = LocalServer(run.parent)
            server.stop()
            if server.socket_dir != run:  # a short socket folder in /tmp
                shutil.rmtree(server.socket_dir, ignore_errors=True)


def query(server: LocalServer, sql: str, database: str = "credits"):
    with psycopg2.connect(host=str(server.socket_dir), port=5432, user="postgres",
                          dbname=database) as conn, conn.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall() if cursor.description else None


def localdb(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "credits_project.localdb", *args],
                          cwd=BASE_DIR, capture_output=True, text=True, timeout=120,
                          env=env or ENV_WITHOUT_DATABASE)


def postgres_processes_of(server: LocalServer) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if command.startswith(b"/") and b"postgres" in command.split(b"\0")[0] \
                    and os.fsencode(str(server.data_dir)) in command:
                found.append(int(entry.name))
    return found


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_a_new_folder_gets_a_postgresql_18_cluster_with_the_credits_database_and_no_tcp_port(
        folder):
    server = LocalServer(folder / "postgres")

    started = server.ensure_running()

    assert started is True
    version, = query(server, "SHOW server_version_num")[0]
    assert int(version) // 10000 == 18
    assert query(server, "SHOW listen_addresses") == [("",)]
    assert query(server, "SELECT current_database()") == [("credits",)]
    assert server.ensure_running() is False  # running: reused, not started twice
    assert server.stop() is True
    assert server.server_pid() is None and postgres_processes_of(server) == []


def test_two_checkouts_run_their_servers_at_once_without_colliding(folder):
    first = LocalServer(folder / "one" / "postgres")
    second = LocalServer(folder / "two" / "postgres")

    first.ensure_running()
    second.ensure_running()
    query(first, "CREATE TABLE mine (x int)")

    assert first.socket_dir != second.socket_dir
    assert query(second, "SELECT to_regclass('mine') IS NULL") == [(True,)]
    assert first.server_pid() != second.server_pid()


def test_a_folder_whose_socket_path_is_too_long_gets_a_short_socket_folder(folder):
    deep = folder / ("d" * 60) / ("e" * 60) / "postgres"
    server = LocalServer(deep)

    server.ensure_running()

    assert len(str(server.socket_dir)) < 100 and server.socket_dir != server.run_dir
    assert query(server, "SELECT 1") == [(1,)]


_HOLDER = """
import sys
from credits_project.localdb import LocalServer
LocalServer(sys.argv[1]).hold()
print("held", flush=True)
sys.stdin.readline()
"""


def holder(base: Path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", _HOLDER, str(base)], cwd=BASE_DIR,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def release(process: subprocess.Popen) -> None:
    process.stdin.write("\n")
    process.stdin.flush()
    assert process.wait(60) == 0


def test_the_first_process_starts_the_server_the_others_reuse_it_and_the_last_stops_it(folder):
    server = LocalServer(folder / "postgres")

    # given a first process holding the server, then a second one
    first = holder(server.base_dir)
    pid = server.server_pid()
    second = holder(server.base_dir)

    # then they share one server
    assert pid is not None and server.server_pid() == pid

    # when the first exits, the server stays for the second
    release(first)
    assert server.server_pid() == pid and query(server, "SELECT 1") == [(1,)]

    # when the last exits, it stops the server
    release(second)
    assert server.server_pid() is None
    assert postgres_processes_of(server) == []


def test_a_holder_killed_with_sigkill_leaves_the_server_to_the_next_process(folder):
    server = LocalServer(folder / "postgres")
    process = holder(server.base_dir)
    pid = server.server_pid()

    process.kill()
    process.wait(10)
    follower = holder(server.base_dir)

    assert server.server_pid() == pid  # reused, not restarted
    release(follower)
    assert server.server_pid() is None  # the follower was the last holder


_THREADS = """
import sys
import threading
from credits_project.localdb import LocalServer
barrier = threading.Barrier(8)
def hold():
    barrier.wait()
    LocalServer(sys.argv[1]).hold()
threads = [threading.Thread(target=hold) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(LocalServer(sys.argv[1]).server_pid())
"""


def test_threads_of_one_process_share_its_hold_and_its_exit_stops_the_server(folder):
    server = LocalServer(folder / "postgres")

    # when eight threads connect at once, then the process exits
    result = subprocess.run([sys.executable, "-c", _THREADS, str(server.base_dir)],
                            cwd=BASE_DIR, capture_output=True, text=True, timeout=120)

    # then they had one server, and the process's exit stopped it
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) > 0
    assert server.server_pid() is None


def test_a_killed_server_is_recovered_with_its_data_by_the_next_start(folder):
    server = LocalServer(folder / "postgres")
    server.ensure_running()
    query(server, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)")
    old = server.server_pid()

    # when the whole server is killed (no shutdown), leaving postmaster.pid behind
    for pid in postgres_processes_of(server):
        os.kill(pid, signal.SIGKILL)
    _wait_until(lambda: postgres_processes_of(server) == [])
    assert (server.data_dir / "postmaster.pid").exists()
    result = localdb("start", "--dir", str(server.base_dir))

    # then it starts again, with its data
    assert result.returncode == 0, result.stderr
    assert server.server_pid() not in (None, old)
    assert query(server, "SELECT x FROM kept") == [(42,)]


def test_a_stale_pid_file_naming_a_live_process_of_another_program_is_removed(folder):
    server = LocalServer(folder / "postgres")
    server.ensure_running()
    server.stop()
    # a pid reused by an unrelated process, as after a reboot
    other = subprocess.Popen(["sleep", "60"])
    try:
        (server.data_dir / "postmaster.pid").write_text(f"{other.pid}\n{server.data_dir}\n")

        assert server.ensure_running() is True
        assert server.server_pid() not in (None, other.pid)
    finally:
        other.kill()
        other.wait()


@pytest.mark.skipif(not (PG15_BIN / "initdb").exists(),
                    reason="needs the base image's PostgreSQL 15 to make a cluster of another "
                           "major version")
def test_a_cluster_of_another_major_version_is_one_line_that_says_what_to_do(folder):
    base = folder / "postgres"
    old = LocalServer(base, bin_dir=PG15_BIN)
    old.ensure_running()
    old.stop()

    result = localdb("start", "--dir", str(base))

    assert_one_line_error(result, "PostgreSQL 15 cluster", "PostgreSQL 18",
                          "move that folder away", "DATABASE_URL")
    assert LocalServer(base).server_pid() is None


def test_a_socket_taken_by_another_postgresql_is_one_line_and_that_server_is_left_alone(folder):
    other = LocalServer(folder / "other")
    other.ensure_running()

    class SameSocket(LocalServer):
        socket_dir = other.socket_dir

    with pytest.raises(LocalDbError) as refused:
        SameSocket(folder / "postgres").ensure_running()

    assert "is taken by another PostgreSQL" in str(refused.value)
    assert "\n" not in str(refused.value)
    assert query(other, "SELECT 1") == [(1,)]  # still serving


def _mounted_tmpfs(path: Path, size: str) -> bool:
    path.mkdir()
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=755", "tmpfs",
                           str(path)], capture_output=True).returncode == 0


def test_no_space_left_at_start_is_one_line_that_says_what_to_do(folder):
    small = folder / "small"
    if os.geteuid() != 0 or not _mounted_tmpfs(small, "3m"):
        pytest.skip("needs root to mount a 3 MB tmpfs (a disk without space)")
    try:
        result = localdb("start", "--dir", str(small / "postgres"))
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)

    assert_one_line_error(result, "no space left", "free some space")


def test_manage_py_without_database_url_starts_the_embedded_server_and_stops_it_at_exit(folder):
    env = {**ENV_WITHOUT_DATABASE, "CREDITS_VAR_DIR": str(folder)}
    server = LocalServer(folder / "postgres")

    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c",
         "from django.db import connection; connection.ensure_connection(); "
         "print(connection.settings_dict['HOST'], connection.pg_version // 10000)"],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(server.socket_dir), "18"]
    assert server.server_pid() is None  # it was the only user: stopped when it exited


def test_manage_py_reports_a_server_that_cannot_start_in_one_line(folder):
    (folder / "postgres" / "data").mkdir(parents=True)
    (folder / "postgres" / "data" / "stray-file").write_text("not a cluster")
    env = {**ENV_WITHOUT_DATABASE, "CREDITS_VAR_DIR": str(folder)}

    result = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=BASE_DIR,
                            env=env, capture_output=True, text=True, timeout=120)

    assert_one_line_error(result, "holds no PostgreSQL cluster", "move it away")


def test_serve_holds_the_server_until_sigterm_then_stops_it(folder):
    base = folder / "postgres"
    server = LocalServer(base)
    process = subprocess.Popen([sys.executable, "-m", "credits_project.localdb", "serve",
                                "--dir", str(base)], cwd=BASE_DIR, env=ENV_WITHOUT_DATABASE,
                               stderr=subprocess.PIPE, text=True)
    assert "ready" in process.stderr.readline()
    assert query(server, "SELECT 1") == [(1,)]

    process.send_signal(signal.SIGTERM)

    assert process.wait(60) == 0
    assert "stopped" in process.stderr.read()
    assert server.server_pid() is None



def test_a_tcp_port_taken_by_another_program_is_one_line_that_says_what_to_do(folder):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = localdb("start", "--dir", str(folder / "postgres"), "--port", str(port))

    assert_one_line_error(result, "port is taken", "choose another port")


def test_a_tcp_port_is_served_only_when_asked_for(folder):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = LocalServer(folder / "postgres", tcp_port=port)
    server.ensure_running()

    with psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="credits") as conn:
        assert conn.server_version // 10000 == 18


def _wait_until(condition, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
