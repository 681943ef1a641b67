"""One event loop per process, in a thread of its own, for synchronous callers (Celery tasks).

A task that runs async work (payments.services.query_batch) hands it to this loop instead of
starting a loop per task with asyncio.run: the loop's database connections and HTTP keep-alive
connections (config.loop_db, the provider client's pools) then outlive the task. Started lazily,
so each prefork child gets its own after the fork.
"""

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def _running_loop() -> asyncio.AbstractEventLoop:
    global _loop, _thread
    with _lock:
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            _thread = threading.Thread(target=_loop.run_forever, name="shouyin-loop", daemon=True)
            _thread.start()
        return _loop


def run(coroutine: Coroutine[Any, Any, Any], timeout: float | None = None) -> Any:
    """Run `coroutine` on the process's loop and wait for its result (or raise its error). If
    the caller stops waiting (the timeout, Celery's soft time limit), the coroutine is cancelled
    rather than left running beside the caller's next task."""
    future = asyncio.run_coroutine_threadsafe(coroutine, _running_loop())
    try:
        return future.result(timeout)
    finally:
        future.cancel()


def stop() -> None:
    """Close the loop's database connections and stop it (tests: no session may outlive one).
    A worker process needs none of it: its connections end with the process."""
    global _loop, _thread
    from config.loop_db import close_loop_databases

    with _lock:
        loop, thread, _loop, _thread = _loop, _thread, None, None
    if loop is None:
        return
    asyncio.run_coroutine_threadsafe(close_loop_databases(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()
