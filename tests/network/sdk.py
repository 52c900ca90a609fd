"""Running the network's SDK (asyncio) from a test."""
import asyncio
from concurrent.futures import ThreadPoolExecutor


def run_sdk(coroutine):
    """Run an SDK coroutine to its end in a thread of its own: the browser tests' Playwright
    leaves an event loop running in the test thread of their worker, where `asyncio.run`
    refuses to start another."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
