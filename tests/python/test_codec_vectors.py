"""Replays tests/vectors/codec (shared with the Rust and Node suites) against the Python module, and checks
that the committed MessagePack bytes are still what the real msgpack-python produces."""

from __future__ import annotations

import json

import msgpack
import pytest

import dashfeed
from conftest import from_notation, load_vectors

VALUES = load_vectors("codec", "values.json")["cases"]
GZIP = load_vectors("codec", "gzip.json")["cases"]
ERRORS = load_vectors("codec", "errors.json")


@pytest.mark.parametrize("case", VALUES, ids=[c["name"] for c in VALUES])
def test_msgpack_bytes_match_vectors_and_msgpack_python(case: dict) -> None:
    value = from_notation(case["value"])
    expected = bytes.fromhex(case["msgpack"])
    assert msgpack.packb(value) == expected, "vector is stale: rerun tests/vectors/codec/gen.py"
    assert dashfeed.encode(value, compress_over=None) == expected
    assert dashfeed.decode(expected) == value
    assert msgpack.unpackb(dashfeed.encode(value, compress_over=None)) == value


@pytest.mark.parametrize("case", [c for c in VALUES if "json" in c], ids=lambda c: c["name"])
def test_json_text_matches_vectors(case: dict) -> None:
    value = from_notation(case["value"])
    text = case["json"]
    assert dashfeed.encode(value, "json", compress_over=None).decode("utf-8") == text
    assert dashfeed.decode(text.encode("utf-8"), "json") == value
    assert json.loads(text) == value


@pytest.mark.parametrize("case", GZIP, ids=[c["name"] for c in GZIP])
def test_gzip_interop_with_python_gzip(case: dict) -> None:
    import gzip

    value = from_notation(case["value"])
    assert dashfeed.decode(bytes.fromhex(case["gzip"])) == value
    ours = dashfeed.encode(value, compress_over=case["compress_over"])
    assert ours[:2] == b"\x1f\x8b"
    assert msgpack.unpackb(gzip.decompress(ours)) == value


@pytest.mark.parametrize("case", ERRORS["errors"], ids=[c["name"] for c in ERRORS["errors"]])
def test_error_vectors(case: dict) -> None:
    if case.get("format") == "json":
        data, fmt = case["text"].encode("utf-8"), "json"
    else:
        data, fmt = bytes.fromhex(case["hex"]), "msgpack"
    with pytest.raises(dashfeed.DashfeedError) as info:
        dashfeed.decode(data, fmt)
    assert info.value.code == case["code"]


def test_ok_vectors() -> None:
    for case in ERRORS["ok"]:
        dashfeed.decode(bytes.fromhex(case["hex"]))
