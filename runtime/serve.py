"""Serve several ASGI applications, each on its own port, in one event loop.

uvicorn's own signal handling assumes one server per process; here one
handler stops every server, so Ctrl-C or SIGTERM ends `strata up` cleanly.

The listening sockets are made here rather than by uvicorn so that several
processes can share a port (`SO_REUSEPORT`: the kernel spreads connections
over them). Sharing is only ever joined, never started, by accident: the
first process checks that nobody listens on the port yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import signal
import socket
import struct
from collections.abc import Generator

import uvicorn
from starlette.types import ASGIApp


class PortInUse(Exception):
    pass


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # signals are handled once, for all servers, in serve_all


def _new_socket(host: str, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not 0: asyncio turns Nagle off (TCP_NODELAY) only
    # on sockets that say they are TCP, and with Nagle and delayed ACKs
    # every small answer would wait some 40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return sock


def listen(host: str, port: int, shared: bool, first: bool) -> socket.socket:
    """A listening socket on host:port; `shared`: other processes may join it,
    `first`: nobody may be listening there yet (else PortInUse)."""
    if first:
        # A port shared with SO_REUSEPORT accepts any joiner of the same
        # user, so check with a plain bind, which fails on any listener.
        probe = _new_socket(host, reuse_port=False)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise PortInUse(f"cannot listen on {host}:{port}: {error.strerror}") from error
        finally:
            probe.close()
    sock = _new_socket(host, reuse_port=shared)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as error:
        sock.close()
        raise PortInUse(f"cannot listen on {host}:{port}: {error.strerror}") from error
    return sock


SO_ATTACH_REUSEPORT_CBPF = 51  # linux/socket.h (not in the socket module)
_SKF_NET_OFF = -0x100000  # classic BPF: load relative to the network header
_IP_HEADER = {socket.AF_INET: 20, socket.AF_INET6: 40}  # a SYN carries no options


def spread_connections(sock: socket.socket, processes: int) -> None:
    """Give each new connection of a shared port to process (source port / 2)
    mod `processes`, instead of by the kernel's hash.

    A client opening several connections at once (keep-alive clients, load
    generators) gets source ports two apart, so they go round the processes
    in turn where a hash could give one process most of them for as long as
    they live. The number is an index in the port's group, in the order the
    processes joined; one past its end (a worker that did not start) falls
    back to the hash.
    """
    if processes < 2:
        return
    source_port = (_SKF_NET_OFF + _IP_HEADER[sock.family]) & 0xFFFFFFFF
    program = b"".join(
        struct.pack("HBBI", code, 0, 0, k)
        for code, k in (
            (0x28, source_port),  # A = the TCP source port (ld half, absolute)
            (0x74, 1),  # A >>= 1
            (0x94, processes),  # A %= processes
            (0x16, 0),  # return A
        )
    )
    buffer = ctypes.create_string_buffer(program)
    fprog = struct.pack("HL", len(program) // 8, ctypes.addressof(buffer))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, fprog)


def listen_all(
    addresses: list[tuple[str, int]], shared: bool = False, first: bool = True
) -> list[socket.socket]:
    """A listening socket per (host, port), as `listen` makes them; none if one fails."""
    sockets: list[socket.socket] = []
    try:
        for host, port in addresses:
            sockets.append(listen(host, port, shared, first))
    except PortInUse:
        for sock in sockets:
            sock.close()
        raise
    return sockets


async def serve_all(apps: list[tuple[ASGIApp, socket.socket]]) -> None:
    """Run until SIGINT/SIGTERM; `apps` holds (app, listening socket) pairs."""
    servers = [
        _Server(
            uvicorn.Config(
                app,
                host=sock.getsockname()[0],
                port=sock.getsockname()[1],
                log_level="warning",
                access_log=False,
            )
        )
        for app, sock in apps
    ]

    def stop() -> None:
        for server in servers:
            server.should_exit = True

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    try:
        await asyncio.gather(
            *(server.serve(sockets=[sock]) for server, (_, sock) in zip(servers, apps, strict=True))
        )
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        for _, sock in apps:
            sock.close()
