"""Tell the other Strata processes of this host, at once, what a commit changed.

Each process projects its own writes before answering, into read models every
process shares, so reads see them everywhere. What a process keeps in memory
does not: caches keyed on a read model's change marker (validated tokens, the
catalog), and the wake-ups of agents, the relay and event streams. SQLite has
no NOTIFY and PostgreSQL's arrives asynchronously, so another process of the
host could answer from a stale cache right after a writer answered.

Every process binds a Unix datagram socket in one folder per data directory.
After a commit, once it is projected, the writer sends each peer the last
change it knows of every read model. `sendto` returns only when the datagram
sits in the receiver's queue, so a request that reaches a peer after the
writer answered finds it there: `changed()` drains the queue without
blocking. A datagram only says "look again"; a forged one costs a catch-up.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import select
import socket
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)

_MAX_DATAGRAM = 65536


def wakeups_folder(data_dir: Path) -> Path:
    """The peers' meeting place for one data directory.

    Not inside it: a Unix socket's path is limited to 108 bytes and data
    directories (a test's temporary folder) can be longer than that.
    """
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"strata-wake-{digest}"


class HostWakeups:
    """This process's end: send what changed to peers, learn what they changed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        # Unique even for two clouds of one process (tests build several).
        self.path = folder / f"{os.getpid()}-{secrets.token_hex(4)}.sock"
        self._receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        for attempt in range(3):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                self._receiver.bind(str(self.path))
                break
            except FileNotFoundError:  # the last peer removed the folder meanwhile
                if attempt == 2:
                    raise
        self._receiver.setblocking(False)
        self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sender.setblocking(False)
        self._lock = threading.Lock()
        self._changed: dict[str, int] = {}
        self._closed = False
        self._peers_stamp = -1
        self._peer_paths: list[str] = []

    def notify(self, changed: Mapping[str, int]) -> None:
        """Send every peer the last change of each read model this process knows."""
        peers = self._peers()
        if not peers:
            return
        payload = json.dumps({n: p for n, p in changed.items() if p}).encode()
        for peer in peers:
            try:
                self._sender.sendto(payload, peer)
            except BlockingIOError:
                pass  # its queue is full: it has wake-ups to read already
            except (ConnectionRefusedError, FileNotFoundError):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(peer)  # its process is gone
            except OSError as error:
                log.debug("wake-up to %s not sent: %s", peer, error)

    def _peers(self) -> list[str]:
        # Every commit asks; the folder is listed again only when a peer
        # came or went (which changes its modification time). File times
        # tick coarsely, so a change in the last second may not show yet.
        try:
            stamp = os.stat(self.folder).st_mtime_ns
        except FileNotFoundError:
            return []
        if stamp != self._peers_stamp or time.time_ns() - stamp < 1_000_000_000:
            own = str(self.path)
            self._peer_paths = [
                e.path
                for e in os.scandir(self.folder)
                if e.name.endswith(".sock") and e.path != own
            ]
            self._peers_stamp = stamp
        return self._peer_paths

    def changed(self, name: str) -> int:
        """The last change of `name` a peer told of (0: none), after reading
        every wake-up already queued."""
        self._drain()
        return self._changed.get(name, 0)

    def wait(self, timeout: float) -> bool:
        """Block until a wake-up arrives or `timeout` passes; whether one came."""
        if self._closed:
            return False
        try:
            readable, _, _ = select.select([self._receiver], [], [], timeout)
        except (OSError, ValueError):  # closed meanwhile
            return False
        return bool(readable) and self._drain()

    def _drain(self) -> bool:
        # Under the lock, so that a reader that finds the queue empty because
        # another thread just emptied it also finds what that thread read.
        got = False
        with self._lock:
            while not self._closed:
                try:
                    payload = self._receiver.recv(_MAX_DATAGRAM)
                except (BlockingIOError, OSError):
                    break
                got = True
                self._merge(payload)
        return got

    def _merge(self, payload: bytes) -> None:
        try:
            told = json.loads(payload)
        except ValueError:
            return
        if not isinstance(told, dict):
            return
        for name, position in told.items():
            known = self._changed.get(name, 0)
            if isinstance(name, str) and isinstance(position, int) and position > known:
                self._changed[name] = position

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._receiver.close()
            self._sender.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        with contextlib.suppress(OSError):
            self.folder.rmdir()  # the last one out; fails while peers remain
