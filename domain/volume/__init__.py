"""Block storage: volumes, their snapshots and attachments, volume types, storage hosts."""
