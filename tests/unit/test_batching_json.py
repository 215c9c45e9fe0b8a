"""Rows travel to PostgreSQL as the same JSON document whichever encoder spells them."""

from __future__ import annotations

import json

from projections.batching import _json_text


def test_orjson_spelling_reads_back_as_the_standard_encoders() -> None:
    rows = [['é ✓ \u2028 "quoted" \\ \n\t', 2**63 - 1, -(2**63), True, None, ""]]
    text = _json_text(rows)
    assert json.loads(text) == rows
    assert json.loads(_json_text([{"a": "b", "n": 1}])) == [{"a": "b", "n": 1}]


def test_values_orjson_refuses_take_the_standard_encoder() -> None:
    rows = [[2**70, "x"], [-(2**64), "y"]]
    text = _json_text(rows)
    assert text == json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
    assert json.loads(text) == rows
