"""The compute agent: converges a host's libvirt domains and disks towards
the servers the control plane assigned to it."""
