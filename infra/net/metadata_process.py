"""One metadata proxy or relay process, owned through the files of its folder.

As with dnsmasq (dnsmasq.py): the folder holds the command line (`args`),
the pid file and the log, so an agent finds and stops processes a previous
run started, restarts one that died, and replaces one whose command changed.
"""

from __future__ import annotations

import sys

from infra.net import processes
from infra.net.namespaces import run

PROGRAM = "infra.net.metadata_proxy"


class MetadataProcess(processes.OwnedDaemon):
    def command(self, mode: str, options: list[str]) -> list[str]:
        files = ["--pid-file", str(self.pid_file), "--log-file", str(self.log_file)]
        return [sys.executable, "-m", PROGRAM, mode, *options, *files]

    def ensure(self, namespace: str | None, mode: str, options: list[str]) -> bool:
        """Running with this command line (inside `namespace`); True when started."""
        self.directory.mkdir(parents=True, exist_ok=True)
        command = self.command(mode, options)
        text = "\n".join(command) + "\n"
        pid = self.pid()
        same = self.args_file.exists() and self.args_file.read_text() == text
        if pid is not None and same:
            return False
        if pid is not None:
            self.stop()
        self.pid_file.unlink(missing_ok=True)
        self.args_file.write_text(text)
        # The program detaches once it listens and has written its pid file,
        # so this returns with the process running or with its error.
        run(namespace, command)
        return True
