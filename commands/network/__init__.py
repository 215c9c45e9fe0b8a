"""Network commands; importing this package registers their handlers."""

from commands.network import admin, agent, floatingips, networks, ports, routers, security

__all__ = ["admin", "agent", "floatingips", "networks", "ports", "routers", "security"]
