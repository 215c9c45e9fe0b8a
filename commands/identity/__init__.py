"""Identity commands; importing this package registers their handlers."""

from commands.identity import catalog, credentials, people, roles, tenancy

__all__ = ["catalog", "credentials", "people", "roles", "tenancy"]
