"""Running an app under uvicorn so that stopping it ends open event streams at once.

uvicorn stops by waiting for every open response before it tells the app (the lifespan) to
shut down. An event stream never finishes on its own, so Ctrl-C with a chat tab open would
wait out the graceful-shutdown timeout and then cancel the stream with an error and a
traceback. :class:`Server` first closes the listening sockets, then calls the hook the app
left in its lifespan state under :data:`SHUTDOWN_HOOK` (``create_app`` puts the runtime's
``begin_shutdown`` there, which ends the streams), then shuts down as uvicorn does.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import Callable

import uvicorn
from uvicorn._subprocess import get_subprocess
from uvicorn.supervisors import ChangeReload

__all__ = ["SHUTDOWN_HOOK", "Server", "run_server"]

SHUTDOWN_HOOK = "patchwire.begin_shutdown"
"""The lifespan state key of a ``() -> None`` that ends the app's long-lived responses."""


class Server(uvicorn.Server):
    """uvicorn's server, ending the app's event streams when it begins to shut down."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # no new stream may open once the open ones are ended
        hook: Callable[[], None] | None = self.lifespan.state.get(SHUTDOWN_HOOK)
        if hook is not None:
            hook()
        await super().shutdown(sockets)


def run_server(config: uvicorn.Config) -> bool:
    """``uvicorn.run`` with :class:`Server` (one process, several, or reloading); whether it
    started (and, with several, kept running until it was asked to stop).

    A reloading supervisor counts as started: its server processes report their own errors.
    """
    if config.workers > 1:
        return _run_workers(config)
    if config.should_reload:
        supervisor = ChangeReload(config, target=Server(config).run, sockets=[config.bind_socket()])
        with contextlib.suppress(KeyboardInterrupt):
            supervisor.run()
        return True
    server = Server(config)
    # uvicorn raises the SIGINT it handled again once it has stopped.
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    return server.started


def _run_workers(config: uvicorn.Config) -> bool:
    """``config.workers`` processes of :class:`Server` accepting on one socket.

    Ctrl-C reaches every process of the terminal's group; SIGINT or SIGTERM to this one is
    passed on as SIGTERM. Each worker then stops as one process does, its streams ended first.
    A worker that dies (it could not start, or crashed) stops the others: False, and the
    process manager that started ``serve`` starts it again, whose workers take over the jobs.
    uvicorn's own supervisor runs uvicorn's server in its workers, which would wait out the
    open streams, so this one is ours.
    """
    sockets = [config.bind_socket()]
    workers = [
        get_subprocess(config, target=Server(config).run, sockets=sockets)
        for _ in range(config.workers)
    ]
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda number, frame: stop.set())
    for worker in workers:
        worker.start()
    kept = True
    while not stop.wait(0.2):
        if not all(worker.is_alive() for worker in workers):
            kept = False
            break
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.join()
    sockets[0].close()
    return kept
