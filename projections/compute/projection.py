"""The compute read model: servers and their actions, flavors, key pairs,
hosts and quota limits (one projection, its handlers in two modules)."""

from __future__ import annotations

from projections.compute.catalog import CatalogRows
from projections.compute.servers import ServerRows
from projections.compute.tables import TABLES


class ComputeProjection(ServerRows, CatalogRows):
    name = "compute"
    tables = TABLES
