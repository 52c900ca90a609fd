"""Real threads for concurrency tests on PostgreSQL."""
import threading

from django.db import connection


def in_threads(*calls, timeout: float = 120) -> list:
    """Run each call in its own thread and database connection, all released at once; return
    what each returned or raised, in order. A thread still running after `timeout` fails the
    test (a deadlock or a lost lock)."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait(timeout=30)
            results[index] = call()
        except Exception as exc:  # noqa: BLE001 - the test inspects what each thread got
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread hung (deadlock?)"
    return results
