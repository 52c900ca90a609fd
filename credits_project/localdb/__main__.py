"""`python -m credits_project.localdb start|serve|stop|status|url [--dir D] [--bin B] [--port P]`

start   start the server unless it runs (it keeps running), print its URL
serve   start it if needed and hold it until SIGINT/SIGTERM; then stop it unless another
        process still uses it (the quick start runs this beside the web server and worker)
stop    stop it now, whoever uses it
status  say whether it runs (exit status 0) or not (3)
url     print its URL (for DATABASE_URL)
"""
import argparse
import signal
import sys
import threading
from pathlib import Path

from . import LocalDbError, LocalServer


def default_dir() -> Path:
    """The folder the settings use when DATABASE_URL is unset."""
    from credits_project.settings import VAR_DIR

    return VAR_DIR / "postgres"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m credits_project.localdb",
                                     description=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["start", "serve", "stop", "status", "url"])
    parser.add_argument("--dir", type=Path, default=None,
                        help="the server's folder (default: $CREDITS_VAR_DIR/postgres, that is "
                             "var/postgres)")
    parser.add_argument("--bin", type=Path, default=None,
                        help="PostgreSQL binaries to use instead of the embedded ones, e.g. "
                             "/usr/lib/postgresql/15/bin")
    parser.add_argument("--port", type=int, default=None,
                        help="also listen on 127.0.0.1 at this port (default: the socket only)")
    parser.add_argument("-c", dest="options", action="append", default=[], metavar="NAME=VALUE",
                        help="a server setting (repeatable), e.g. -c fsync=off")
    args = parser.parse_args(argv)
    try:
        server = LocalServer(args.dir or default_dir(), bin_dir=args.bin,
                             server_options=tuple(f"-c {option}" for option in args.options),
                             tcp_port=args.port)
        return _COMMANDS[args.command](server)
    except LocalDbError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _start(server: LocalServer) -> int:
    started = server.ensure_running()
    print(f"[localdb] PostgreSQL {server.version()} {'started' if started else 'already running'}"
          f" in {server.data_dir}", file=sys.stderr)
    print(server.url())
    return 0


def _serve(server: LocalServer) -> int:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    server.hold()
    print(f"[localdb] PostgreSQL {server.version()} ready in {server.data_dir}; "
          "held until stopped", file=sys.stderr, flush=True)
    while not stop.wait(3600):
        pass
    if server.release():
        print(f"[localdb] stopped: {server.data_dir}", file=sys.stderr)
    else:
        print("[localdb] another process still uses the embedded PostgreSQL: it stops when "
              "the last one exits (or: python -m credits_project.localdb stop)", file=sys.stderr)
    return 0


def _stop(server: LocalServer) -> int:
    stopped = server.stop()
    print(f"[localdb] {'stopped' if stopped else 'not running'}: {server.data_dir}",
          file=sys.stderr)
    return 0


def _status(server: LocalServer) -> int:
    if server.server_pid() is None:
        print(f"not running: {server.data_dir}")
        return 3
    print(f"running (pid {server.server_pid()}): {server.url()}")
    return 0


def _url(server: LocalServer) -> int:
    print(server.url())
    return 0


_COMMANDS = {"start": _start, "serve": _serve, "stop": _stop, "status": _status, "url": _url}

if __name__ == "__main__":
    sys.exit(main())
