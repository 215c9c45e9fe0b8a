"""One dnsmasq DHCP server, run inside a namespace and owned through files.

Everything about an instance lives in one directory: its command line,
hosts file (static leases), options file and pid file. The agent can thus
find and stop servers a previous run started, and a change to the leases
is a SIGHUP (dnsmasq re-reads --dhcp-hostsfile and --dhcp-optsfile) rather
than a restart that would drop in-flight requests.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
from pathlib import Path

from infra.net import processes
from infra.net.namespaces import in_namespace, run

BINARY = "dnsmasq"


def available() -> bool:
    return shutil.which(BINARY) is not None or Path("/usr/sbin/dnsmasq").exists()


class Dnsmasq(processes.OwnedDaemon):
    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.hosts_file = directory / "hosts"
        self.opts_file = directory / "opts"

    def command(self, interface: str, dhcp_ranges: list[str]) -> list[str]:
        args = [
            BINARY,
            "--conf-file=/dev/null",
            "--no-hosts",
            "--no-resolv",
            "--port=0",  # DHCP only: the tenant's DNS is not ours to answer
            f"--interface={interface}",
            "--except-interface=lo",
            # Bind to our interface only, so servers of other networks in
            # other namespaces (or a host dnsmasq) never see our requests.
            "--bind-interfaces",
            "--dhcp-authoritative",
            "--leasefile-ro",  # static leases only; nothing to persist
            f"--pid-file={self.pid_file}",
            f"--log-facility={self.log_file}",  # not syslog: there may be none
            "--log-dhcp",
            # dnsmasq drops to `nobody` by default, which then cannot re-read
            # the hosts file on SIGHUP when the state folder is private (as
            # the agent's data folder is). Stay the agent's user instead.
            f"--user={pwd.getpwuid(os.geteuid()).pw_name}",
            f"--dhcp-hostsfile={self.hosts_file}",
            f"--dhcp-optsfile={self.opts_file}",
        ]
        args += [f"--dhcp-range={r}" for r in dhcp_ranges]
        return args

    def write_if_changed(self, path: Path, text: str) -> bool:
        with contextlib.suppress(OSError):
            if path.read_text() == text:
                return False
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        # A reader (dnsmasq on SIGHUP) sees the old or the new file, never half.
        tmp.replace(path)
        return True

    def ensure(
        self, namespace: str, interface: str, dhcp_ranges: list[str], hosts: str, opts: str
    ) -> bool:
        """Run with this configuration; True when anything changed."""
        self.directory.mkdir(parents=True, exist_ok=True)
        command = self.command(interface, dhcp_ranges)
        changed_args = self.write_if_changed(self.args_file, "\n".join(command) + "\n")
        changed_files = self.write_if_changed(self.hosts_file, hosts)
        changed_files |= self.write_if_changed(self.opts_file, opts)
        pid = self.pid()
        if pid is not None and changed_args:
            self.stop()
            pid = None
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            # dnsmasq forks into the background and writes its pid file; we
            # are not its parent, so no zombie is left when it exits.
            run(None, in_namespace(namespace, command))
            return True
        if changed_files:
            os.kill(pid, signal.SIGHUP)
            return True
        return False
