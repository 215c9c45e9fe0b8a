"""Stopping the child processes a Strata process started."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

STOP_TIMEOUT = 15.0  # seconds a child has for its clean stop before it is killed


def stop_children(children: Sequence[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every child at once, then wait for each; kill the late ones."""
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
