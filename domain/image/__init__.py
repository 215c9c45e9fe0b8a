"""Images (Glance v2): the image aggregate, its formats and its sharing rules."""
