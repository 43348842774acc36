"""The in-kernel host: the standalone server as a task on ipykernel's running loop.

For kernels without the Jupyter server extension (VS Code, Colab, plain ``jupyter
console``). It keeps serving between cells and while a cell awaits; a cell that blocks
the loop (``time.sleep``) stalls it, as any asyncio server in a kernel (see the README).
"""

from __future__ import annotations

import asyncio
import atexit
import socket
from dataclasses import dataclass

from ..hub import Hub
from ..runtime import lock_server, remove_runtime, unlock_server
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


def serve(port: int = 0, *, fps: float = 30.0) -> KernelHost:
    """Start serving on 127.0.0.1 from this kernel (once); returns at once with the URL.

    The server itself starts as soon as the current cell yields to the loop. Raises
    :class:`~ccviz_kernel.errors.ServerBusy` now, not from the task later, when another
    process's ccviz server holds the data folder (the host would fail on its lock): the
    caller can then say so, or use that server.
    """
    global _HOST
    if _HOST is not None and (not _HOST.task.done() or _HOST.running is not None):
        return _HOST
    loop = asyncio.get_event_loop()
    if not loop.is_running():
        raise RuntimeError("the in-kernel host needs a running event loop (a Jupyter kernel)")
    unlock_server(lock_server())  # held by another process: ServerBusy, before any task
    port = port or _free_port()
    hub = Hub()
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


def _report_failure(task: asyncio.Task[Standalone]) -> None:
    if not task.cancelled() and task.exception() is not None:
        print(f"ccviz: the in-kernel host could not start: {task.exception()}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
