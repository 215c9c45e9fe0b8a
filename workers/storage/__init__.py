"""The storage agent: converge one storage host's volume files to the desired state."""
