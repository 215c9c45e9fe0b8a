"""Nova's metadata trees: walking a path through nested dicts, and printing
a node the way the EC2-style listings print it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

NAME = "_name"  # a directory that lists under another name ("0=mykey")


class PathNotFound(LookupError):
    pass


def find(tree: Any, tokens: Sequence[str]) -> Any:
    node = tree
    for token in tokens:
        if isinstance(node, dict) and token in node and token != NAME:
            node = node[token]
        else:
            raise PathNotFound("/".join(tokens))
    return node


def render(node: Any) -> bytes:
    """A directory lists its entries (sub-directories end in "/"), a list
    one item per line, anything else is its own text."""
    if isinstance(node, dict):
        lines = []
        for key in sorted(node):
            if key == NAME:
                continue
            value = node[key]
            if isinstance(value, dict):
                lines.append(str(value[NAME]) if NAME in value else f"{key}/")
            else:
                lines.append(key)
        return "\n".join(lines).encode()
    if isinstance(node, list | tuple):
        return "\n".join(str(item) for item in node).encode()
    if isinstance(node, bytes):
        return node
    return str(node).encode()
