"""Network commands; importing this package registers their handlers."""

from commands.network import (
    admin,
    agent,
    bulk,
    extra_routes,
    floatingips,
    networks,
    ports,
    routers,
    security,
)

__all__ = [
    "admin",
    "agent",
    "bulk",
    "extra_routes",
    "floatingips",
    "networks",
    "ports",
    "routers",
    "security",
]
