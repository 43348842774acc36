"""The in-kernel host: the standalone server as a task on ipykernel's running loop.

For kernels without the Jupyter server extension (VS Code, Colab, plain ``jupyter
console``). It keeps serving between cells and while a cell awaits; a cell that blocks
the loop (``time.sleep``) stalls it, as any asyncio server in a kernel (see the README).

With a Redis URL (``serve(redis=...)``, ``%ccviz serve --redis URL``, else
``$CCVIZ_REDIS_URL``) its event log is the shared one in Redis: the kernel serves the games
of every ``ccviz serve --redis`` on that Redis, and takes no data-folder server lock.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import socket
from dataclasses import dataclass

from ..config import ENV_REDIS_URL
from ..errors import UsageError
from ..hub import Hub, Store
from ..runtime import lock_server, remove_runtime, unlock_server
from ..store import REDIS_SCHEMES, open_store
from .standalone import Standalone, start


@dataclass
class KernelHost:
    hub: Hub
    url: str
    task: asyncio.Task[Standalone]

    @property
    def running(self) -> Standalone | None:
        return self.task.result() if self.task.done() and not self.task.exception() else None

    async def ready(self) -> Standalone:
        return await asyncio.shield(self.task)

    async def stop(self) -> None:
        host = await self.ready()
        await host.close()


_HOST: KernelHost | None = None


def current() -> KernelHost | None:
    return _HOST


def serve(port: int = 0, *, fps: float = 30.0, redis: str | None = None) -> KernelHost:
    """Start serving on 127.0.0.1 from this kernel (once); returns at once with the URL.

    ``redis``: a ``redis://``, ``rediss://`` or ``unix://`` URL of the shared event log
    (``None``: ``$CCVIZ_REDIS_URL``; empty: the data folder's SQLite file). The store is
    opened now, so a bad URL or an unreachable server raises here
    (:class:`~ccviz_kernel.errors.UsageError`, :class:`~ccviz_kernel.errors.StoreError`,
    naming the server with its password redacted).

    The server itself starts as soon as the current cell yields to the loop. On SQLite,
    raises :class:`~ccviz_kernel.errors.ServerBusy` now, not from the task later, when
    another process's ccviz server holds the data folder (the host would fail on its
    lock): the caller can then say so, or use that server. A Redis log is shared by
    design, so no lock is taken for it.
    """
    global _HOST
    if _HOST is not None and (not _HOST.task.done() or _HOST.running is not None):
        return _HOST
    loop = asyncio.get_event_loop()
    if not loop.is_running():
        raise RuntimeError("the in-kernel host needs a running event loop (a Jupyter kernel)")
    url = (os.environ.get(ENV_REDIS_URL, "") if redis is None else redis).strip()
    if url:
        hub = Hub(_redis_store(url))
    else:
        unlock_server(lock_server())  # held by another process: ServerBusy, before any task
        hub = Hub()
    port = port or _free_port()
    task = loop.create_task(start("127.0.0.1", port, fps=fps, hub=hub, runtime_kind="kernel"))
    task.add_done_callback(_report_failure)
    _HOST = KernelHost(hub, f"http://127.0.0.1:{port}/", task)
    atexit.register(remove_runtime)
    return _HOST


async def stop() -> None:
    global _HOST
    if _HOST is not None:
        host, _HOST = _HOST, None
        await host.stop()


def _redis_store(url: str) -> Store:
    """The shared log at ``url`` (never echoed: it may carry a password)."""
    if not url.startswith(REDIS_SCHEMES):
        raise UsageError(
            f"not a Redis URL (redis= or ${ENV_REDIS_URL}): it starts with redis://, "
            "rediss:// or unix://, e.g. redis://127.0.0.1:6379/0"
        )
    try:
        return open_store(url)
    except ImportError:
        raise UsageError("Redis needs its client: pip install 'ccviz-kernel[redis]'") from None


def _report_failure(task: asyncio.Task[Standalone]) -> None:
    if not task.cancelled() and task.exception() is not None:
        print(f"ccviz: the in-kernel host could not start: {task.exception()}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
