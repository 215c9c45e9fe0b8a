"""Thin adapters over Linux networking: pyroute2, nft, dnsmasq and ovs-vsctl.

Each module wraps one tool and knows nothing about Strata's resources; the
network agent (workers/network) decides what to create and names it.
"""
