"""What the cloud is made of: its projections and its API applications.

Each service adds itself here in one line each — its projection factories and
its app factory — so the composition root and `strata up` never change when a
service arrives. Importing a service's `commands` package registers its
handlers with the bus.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import commands.identity  # noqa: F401  (registers the identity handlers)
from commands import compute as _compute_handlers  # noqa: F401  (registers them)
from commands import image as _image_handlers  # noqa: F401  (registers them)
from commands import network as _network_handlers  # noqa: F401  (registers them)
from commands import volume as _volume_handlers  # noqa: F401  (registers them)
from projections.audit.projection import AuditProjection
from projections.audit.webhooks import WebhookProjection
from projections.base import Projection
from projections.compute.projection import ComputeProjection
from projections.identity.projection import IdentityProjection
from projections.image.projection import ImageProjection
from projections.network.projection import NetworkProjection
from projections.volume.projection import VolumeProjection

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from runtime.cloud import Cloud


def projections() -> list[Projection]:
    """Every read model the cloud keeps, in the order they are created."""
    return [
        IdentityProjection(),
        AuditProjection(),
        WebhookProjection(),
        NetworkProjection(),
        ImageProjection(),
        ComputeProjection(),
        VolumeProjection(),
    ]


def _identity_app(cloud: Cloud) -> ASGIApp:
    return cloud.identity_app()


def _events_app(cloud: Cloud) -> ASGIApp:
    from runtime.history import events_app

    return events_app(cloud)


def _network_app(cloud: Cloud) -> ASGIApp:
    from api.network.app import network_app

    return network_app(
        cloud.bus, cloud.db, cloud.authenticator, cloud.settings.public_url("network")
    )


def _image_app(cloud: Cloud) -> ASGIApp:
    from api.image.app import image_app

    settings = cloud.settings
    images_dir = settings.images_dir or settings.data_dir / "images"
    return image_app(
        cloud.bus, cloud.db, cloud.authenticator, images_dir, settings.public_url("image")
    )


def _compute_app(cloud: Cloud) -> ASGIApp:
    from api.compute.app import compute_app

    url = cloud.settings.public_url("compute")
    return compute_app(cloud.bus, cloud.db, cloud.authenticator, url)


def _volume_app(cloud: Cloud) -> ASGIApp:
    from api.volume.app import volume_app

    url = cloud.settings.public_url("block-storage")
    return volume_app(cloud.bus, cloud.db, cloud.authenticator, url)


def _metadata_app(cloud: Cloud) -> ASGIApp:
    from api.metadata.app import create_metadata_app
    from infra.metadata_signing import shared_secret

    settings = cloud.settings
    return create_metadata_app(cloud.db, shared_secret(settings), settings.metadata_dhcp_domain)


# service name (a key of Settings.ports) -> factory of its ASGI application
APPS: dict[str, Callable[[Cloud], ASGIApp]] = {
    "identity": _identity_app,
    "events": _events_app,
    "network": _network_app,
    "image": _image_app,
    "compute": _compute_app,
    "block-storage": _volume_app,
    "metadata": _metadata_app,
}
