"""Host wake-ups: what one process tells, its peers know before it answers."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.host_wakeups import HostWakeups, wakeups_folder


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "wake"


@pytest.fixture
def pair(folder: Path) -> Iterator[tuple[HostWakeups, HostWakeups]]:
    writer, reader = HostWakeups(folder), HostWakeups(folder)
    yield writer, reader
    writer.close()
    reader.close()


def test_a_peer_knows_what_changed_as_soon_as_notify_returns(
    pair: tuple[HostWakeups, HostWakeups],
) -> None:
    writer, reader = pair
    assert reader.changed("identity") == 0
    writer.notify({"identity": 7, "network": 9, "compute": 0})
    assert reader.changed("identity") == 7
    assert reader.changed("network") == 9
    assert reader.changed("compute") == 0
    assert writer.changed("identity") == 0  # nobody tells itself


def test_positions_only_move_forward(pair: tuple[HostWakeups, HostWakeups]) -> None:
    writer, reader = pair
    writer.notify({"identity": 12})
    writer.notify({"identity": 5})  # an older process's news, arriving late
    assert reader.changed("identity") == 12


def test_wait_returns_on_a_wakeup_and_times_out_without_one(
    pair: tuple[HostWakeups, HostWakeups],
) -> None:
    writer, reader = pair
    assert reader.wait(0.01) is False
    writer.notify({"network": 3})
    assert reader.wait(5.0) is True
    assert reader.changed("network") == 3


def test_garbage_is_ignored(folder: Path, pair: tuple[HostWakeups, HostWakeups]) -> None:
    _, reader = pair
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as stranger:
        for payload in (b"not json", b"[1, 2]", b'{"identity": "x", "7": 1.5}'):
            stranger.sendto(payload, str(reader.path))
    assert reader.wait(1.0) is True
    assert reader.changed("identity") == 0


def test_a_dead_peers_socket_is_removed(folder: Path) -> None:
    writer, gone = HostWakeups(folder), HostWakeups(folder)
    try:
        path = gone.path
        gone._receiver.close()  # died without cleaning up: the file stays
        assert path.exists()
        writer.notify({"identity": 1})
        assert not path.exists()
    finally:
        writer.close()


def test_the_last_one_out_removes_the_folder(folder: Path) -> None:
    first, second = HostWakeups(folder), HostWakeups(folder)
    first.close()
    assert folder.exists()
    second.close()
    assert not folder.exists()


def test_one_folder_per_data_directory_and_short_enough_for_a_socket(tmp_path: Path) -> None:
    deep = tmp_path / ("x" * 200)
    assert wakeups_folder(deep) == wakeups_folder(deep)
    assert wakeups_folder(deep) != wakeups_folder(tmp_path)
    assert len(str(wakeups_folder(deep) / "4194304-0123abcd.sock")) < 108


def test_a_peer_that_joins_later_is_told_too(folder: Path) -> None:
    writer = HostWakeups(folder)
    late: HostWakeups | None = None
    try:
        writer.notify({"identity": 1})  # alone: nobody to tell
        os.utime(folder, ns=(1, 1))  # a folder listed long ago
        writer.notify({"identity": 2})
        late = HostWakeups(folder)
        writer.notify({"identity": 3})
        assert late.changed("identity") == 3
    finally:
        writer.close()
        if late is not None:
            late.close()
