"""Picking a port to listen on."""

from __future__ import annotations

import socket

__all__ = ["free_port", "port_is_free"]


def _bound(port: int, host: str) -> int | None:
    """The port a listener could bind for ``port`` (0: any), or None when it is taken."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return None
        return int(probe.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on ``host:port`` now."""
    return _bound(port, host) is not None


def free_port(preferred: int = 0, host: str = "127.0.0.1") -> int:
    """``preferred`` when it is free, else a free port the system picks."""
    for port in (preferred, 0):
        bound = _bound(port, host)
        if bound is not None:
            return bound
    raise OSError(f"no free port on {host}")
