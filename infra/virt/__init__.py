"""Adapters to the hypervisor side of a compute host: libvirt, qemu-img and
the seed media a guest reads its identity from."""
