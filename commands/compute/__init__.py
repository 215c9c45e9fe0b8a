"""Compute commands; importing this package registers their handlers."""

from commands.compute import agent, flavors, keypairs, quotas, servers, snapshots

__all__ = ["agent", "flavors", "keypairs", "quotas", "servers", "snapshots"]
