"""Image read models: the images Glance lists, their tags, properties and members."""
