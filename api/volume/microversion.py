"""Block storage microversions: `OpenStack-API-Version: volume 3.x`, echoed
also in the legacy `OpenStack-Volume-microversion` header gophercloud reads;
see api/common/microversion.py."""

from __future__ import annotations

from api.common.microversion import MicroversionRules

MIN_VERSION = (3, 0)
MAX_VERSION = (3, 70)

RULES = MicroversionRules(
    service="volume",
    aliases=("volume", "block-storage"),
    minimum=MIN_VERSION,
    maximum=MAX_VERSION,
    legacy_header="x-openstack-volume-api-version",
    legacy_echo="openstack-volume-microversion",
    vary="OpenStack-API-Version",
    format_hint="3.x",
)
