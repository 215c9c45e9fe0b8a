"""Compute microversions: `X-OpenStack-Nova-API-Version: 2.x` (older) or
`OpenStack-API-Version: compute 2.x`; see api/common/microversion.py."""

from __future__ import annotations

from api.common.microversion import (
    MicroversionRules,
    UnsupportedVersion,
    Version,
    version_text,
)

MIN_VERSION = (2, 1)
MAX_VERSION = (2, 60)

RULES = MicroversionRules(
    service="compute",
    aliases=("compute",),
    minimum=MIN_VERSION,
    maximum=MAX_VERSION,
    legacy_header="x-openstack-nova-api-version",
    legacy_echo="x-openstack-nova-api-version",
    vary="OpenStack-API-Version, X-OpenStack-Nova-API-Version",
    format_hint="MajorNum.MinorNum",
)

__all__ = ["MAX_VERSION", "MIN_VERSION", "RULES", "UnsupportedVersion", "Version", "version_text"]
