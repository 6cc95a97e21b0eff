"""Property tests of the codec against msgpack-python (hypothesis), the Python side of issue 16's fuzzing.

For generated values: ``dashfeed.encode`` gives exactly ``msgpack.packb``'s bytes (NaN payloads and -0.0
included), ``decode(encode(v)) == v`` in MessagePack (plain and gzipped) and JSON, and each side reads
the other's bytes. For hostile bytes (generated encodings, then mutated, and gzip bombs): decoding
either returns a value or raises a ``DashfeedError`` whose code is in ``ERROR_CODES``, never anything else.
"""

from __future__ import annotations

import gzip
import json
import math
import struct
from typing import Any

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dashfeed

# Every example is generated afresh (no example database in the checkout); a few hundred per property
# keep the suite fast.
PROPERTY = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

INTS = st.integers(-(2**63), 2**64 - 1)
INT_EDGES = st.sampled_from(
    [0, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1,
     -1, -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1, -(2**63)]
)


def values(floats: st.SearchStrategy[float], json_safe: bool = False) -> st.SearchStrategy[Any]:
    """Values both libraries carry; JSON-safe ones have string keys and no bytes."""
    scalars = st.none() | st.booleans() | INTS | INT_EDGES | floats | st.text()
    keys: st.SearchStrategy[Any] = st.text()
    if not json_safe:
        scalars = scalars | st.binary()
        keys = st.text() | INTS
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=6) | st.dictionaries(keys, inner, max_size=6),
        max_leaves=30,
    )


FINITE = st.floats(allow_nan=False, allow_infinity=False)
ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True) | st.integers(0, 2**64 - 1).map(
    lambda bits: struct.unpack(">d", struct.pack(">Q", bits))[0]
)


def plain(value: Any, fmt: str = "msgpack") -> bytes:
    return dashfeed.encode(value, fmt, compress_over=None)


def same(a: Any, b: Any) -> bool:
    """Equality with NaN equal to NaN (same sign and payload are checked through the bytes elsewhere)."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b) and type(a) is type(b)


@PROPERTY
@given(values(ANY_FLOAT))
def test_encode_is_byte_identical_to_packb(value: Any) -> None:
    expected = msgpack.packb(value, use_bin_type=True)
    assert plain(value) == expected
    # Each reads the other's bytes back to the same value.
    assert same(dashfeed.decode(expected), msgpack.unpackb(expected, raw=False, strict_map_key=False))


@PROPERTY
@given(values(FINITE))
def test_round_trips_plain_and_gzipped(value: Any) -> None:
    assert same(dashfeed.decode(plain(value)), value)
    zipped = dashfeed.encode(value, compress_over=0, level=9)
    assert zipped[:2] == b"\x1f\x8b"
    assert same(dashfeed.decode(zipped), value)
    assert gzip.decompress(zipped) == plain(value)


@PROPERTY
@given(values(FINITE, json_safe=True))
def test_json_round_trip_and_standard_json(value: Any) -> None:
    text = plain(value, "json")
    assert same(dashfeed.decode(text, "json"), value)
    assert json.loads(text) == value


@settings(max_examples=60, deadline=None, database=None)
@given(st.integers(0, 70000), st.sampled_from(["str", "bin", "array", "map"]))
def test_every_length_form_matches_packb(n: int, kind: str) -> None:
    """str8/16/32, bin8/16/32, array16/32 and map16/32: the length forms at every size."""
    value: Any = {"str": "x" * n, "bin": b"x" * n, "array": [None] * n, "map": {str(i): i for i in range(n % 4096)}}[kind]
    expected = msgpack.packb(value, use_bin_type=True)
    assert plain(value) == expected
    assert dashfeed.decode(expected) == value


def test_map_and_nested_array_keys() -> None:
    """Found by test_hostile_bytes_raise_documented_codes: a map whose key is a map raised a bare TypeError
    (unhashable dict); nested array keys did too. Arrays become tuples at every level; a map key that is a
    map is a decode_error."""
    assert dashfeed.decode(b"\x81\x91\x91\x01\xc0") == {((1,),): None}
    assert dashfeed.decode(b"\x81\x92\x01\x91\x02\xa1x") == {(1, (2,)): "x"}
    for bad in (b"\x81\x80\xc0", b"\x81\x91\x80\xc0", b"\x82\xa0\x30\x80\xa0\xc0"):
        try:
            dashfeed.decode(bad)
        except dashfeed.DecodeError as e:
            assert e.code == "decode_error"
        else:
            raise AssertionError(f"{bad!r} decoded")


def mutate(data: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    """Applies (kind, position, byte) edits: flip a bit, overwrite, insert, delete, truncate."""
    out = bytearray(data)
    for kind, pos, byte in edits:
        i = pos % (len(out) + 1)
        if kind == 0 and i < len(out):
            out[i] ^= 1 << (byte % 8)
        elif kind == 1 and i < len(out):
            out[i] = byte
        elif kind == 2:
            out[i:i] = bytes([byte])
        elif kind == 3:
            del out[i : i + 1 + byte % 8]
        elif kind == 4:
            del out[i:]
    return bytes(out)


EDITS = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 2**16), st.integers(0, 255)), max_size=4)


@PROPERTY
@given(values(ANY_FLOAT), EDITS, st.booleans(), st.sampled_from(["msgpack", "json"]))
def test_hostile_bytes_raise_documented_codes(value: Any, edits: list[tuple[int, int, int]],
                                              zipped: bool, fmt: str) -> None:
    data = msgpack.packb(value, use_bin_type=True)
    if zipped:
        data = gzip.compress(data)
    data = mutate(data, edits)
    try:
        dashfeed.decode(data, fmt, max_input=1 << 16, max_decompressed=1 << 12, max_depth=16)
    except dashfeed.DashfeedError as e:
        assert e.code in dashfeed.ERROR_CODES
        assert e.code in ("decode_error", "too_large", "too_deep"), e


@PROPERTY
@given(st.integers(0, 1 << 20), st.binary(min_size=1, max_size=4))
def test_gzip_bombs_are_too_large(size: int, pattern: bytes) -> None:
    body = msgpack.packb(pattern * (size // len(pattern)), use_bin_type=True)
    bomb = gzip.compress(body, 9)
    try:
        out = dashfeed.decode(bomb, max_decompressed=1 << 16)
    except dashfeed.TooLargeError as e:
        assert e.code == "too_large" and len(body) > 1 << 16
    else:
        assert len(body) <= 1 << 16 and out == pattern * (size // len(pattern))
