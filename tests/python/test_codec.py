"""The codec API from Python: the reference notes' serializer done right, limits, types and errors."""

from __future__ import annotations

import gzip
import threading
from typing import Any

import msgpack
import pytest

import dashfeed

UPDATE = {
    "dashboard_id": "ops",
    "metric_name": "cpu",
    "value": 0.42,
    "timestamp": 1764288000123,
    "metadata": {"host": "web-1", "region": "eu-west"},
}
BATCH = {
    "dashboard_id": "ops",
    "metrics": [
        {"metric_name": f"m{i}", "value": i * 1.5, "timestamp": 1764288000000 + i, "metadata": {"host": "web"}}
        for i in range(50)
    ],
}


def reference_serialize(data: Any) -> bytes:
    """The reference notes' OptimizedSerializer.serialize_dashboard_update."""
    packed = msgpack.packb(data)
    return gzip.compress(packed) if len(packed) > 1024 else packed


def test_issue_example() -> None:
    b = dashfeed.encode({"cpu": 0.42}, format="msgpack", compress_over=1024)
    assert dashfeed.decode(b) == {"cpu": 0.42}
    assert dashfeed.decode(dashfeed.encode({"cpu": 0.42}, format="json"), format="json") == {"cpu": 0.42}


def test_matches_the_reference_serializer_both_ways() -> None:
    small = dashfeed.encode(UPDATE)
    assert small == reference_serialize(UPDATE)  # below the threshold: plain msgpack, byte for byte
    big = dashfeed.encode(BATCH)
    assert big[:2] == b"\x1f\x8b" and len(msgpack.packb(BATCH)) > 1024
    assert msgpack.unpackb(gzip.decompress(big)) == BATCH
    assert dashfeed.decode(reference_serialize(BATCH)) == BATCH
    assert dashfeed.decode(reference_serialize(UPDATE)) == UPDATE


def test_compress_over_none_and_level() -> None:
    plain = dashfeed.encode(BATCH, compress_over=None)
    assert plain == msgpack.packb(BATCH)
    fast = dashfeed.encode(BATCH, level=1)
    best = dashfeed.encode(BATCH, level=9)
    assert dashfeed.decode(fast) == dashfeed.decode(best) == BATCH
    with pytest.raises(dashfeed.InvalidInputError) as info:
        dashfeed.encode(BATCH, level=10)
    assert info.value.code == "invalid_input"


def test_python_types_in_and_out() -> None:
    value = {"t": (1, 2), "b": b"\x00\x01", "ba": bytearray(b"xy"), "mv": memoryview(b"z"), "n": None,
             "f": True, "big": 2**64 - 1, "neg": -(2**63)}
    out = dashfeed.decode(dashfeed.encode(value))
    assert out == {"t": [1, 2], "b": b"\x00\x01", "ba": b"xy", "mv": b"z", "n": None, "f": True,
                   "big": 2**64 - 1, "neg": -(2**63)}
    assert dashfeed.decode(bytearray(dashfeed.encode([1]))) == [1]
    assert dashfeed.decode(memoryview(dashfeed.encode([2]))) == [2]
    # Non-string keys survive MessagePack, and array keys come back as tuples (hashable).
    assert dashfeed.decode(msgpack.packb({1: "a", (1, 2): "b"})) == {1: "a", (1, 2): "b"}


@pytest.mark.parametrize("bad", [{1, 2}, object(), 1j, frozenset(), print])
def test_unsupported_types_name_the_type(bad: Any) -> None:
    with pytest.raises(TypeError) as info:
        dashfeed.encode({"x": [bad]})
    assert isinstance(info.value, dashfeed.UnsupportedTypeError)
    assert info.value.code == "unsupported_type"
    assert type(bad).__name__ in str(info.value)


def test_integer_out_of_range() -> None:
    with pytest.raises(dashfeed.EncodeError) as info:
        dashfeed.encode(2**64)
    assert info.value.code == "encode_error"
    with pytest.raises(ValueError):
        dashfeed.encode(-(2**63) - 1)


def test_recursive_structure_is_too_deep_not_a_crash() -> None:
    a: list[Any] = []
    a.append(a)
    with pytest.raises(dashfeed.TooDeepError) as info:
        dashfeed.encode(a)
    assert info.value.code == "too_deep"
    nested: Any = None
    for _ in range(128):
        nested = [nested]
    assert dashfeed.decode(dashfeed.encode(nested)) == nested
    with pytest.raises(dashfeed.TooDeepError):
        dashfeed.encode([nested])
    assert dashfeed.encode([nested], max_depth=200)


def test_deep_input_in_a_thread_with_a_small_stack() -> None:
    threading.stack_size(2 << 20)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            dashfeed.decode(b"\x91" * 10_000 + b"\xc0")
        except BaseException as e:  # noqa: BLE001 - the test inspects it
            errors.append(e)

    t = threading.Thread(target=run)
    t.start()
    t.join(timeout=30)
    threading.stack_size(0)
    assert len(errors) == 1 and getattr(errors[0], "code", None) == "too_deep"


def test_gzip_bomb_is_refused_and_nothing_is_lost() -> None:
    bomb = gzip.compress(bytes(64 << 20))
    assert len(bomb) < 100_000
    codec = dashfeed.Codec()
    good = codec.encode(BATCH)
    with pytest.raises(dashfeed.TooLargeError) as info:
        codec.decode(bomb)
    assert info.value.code == "too_large"
    assert isinstance(info.value, ValueError)
    # The process and the codec are fine afterwards.
    assert codec.decode(good) == BATCH
    with pytest.raises(dashfeed.TooLargeError):
        dashfeed.decode(dashfeed.encode("x" * 5000), max_decompressed=1000)


def test_input_size_limit() -> None:
    data = dashfeed.encode("y" * 100, compress_over=None)
    with pytest.raises(dashfeed.TooLargeError):
        dashfeed.decode(data, max_input=50)
    assert dashfeed.decode(data, max_input=200) == "y" * 100


def test_decode_argument_type() -> None:
    with pytest.raises(dashfeed.UnsupportedTypeError):
        dashfeed.decode("not bytes")  # type: ignore[arg-type]


def test_codec_class() -> None:
    c = dashfeed.Codec("json", compress_over=None)
    assert c.format == "json" and c.compress_over is None and c.level == 1
    assert c.encode({"a": [1, 2.5]}) == b'{"a":[1,2.5]}'
    assert c.decode(b'{"a":[1,2.5]}') == {"a": [1, 2.5]}
    assert "json" in repr(c)
    with pytest.raises(dashfeed.InvalidInputError):
        dashfeed.Codec("xml")  # type: ignore[arg-type]
    with pytest.raises(dashfeed.EncodeError):
        c.encode(b"bytes are not JSON")


def test_error_hierarchy_and_codes() -> None:
    assert set(dashfeed.ERROR_CODES) >= {"decode_error", "too_large", "too_deep", "invalid_input", "circuit_open"}
    assert issubclass(dashfeed.DecodeError, dashfeed.DashfeedError)
    assert issubclass(dashfeed.DecodeError, ValueError)
    assert issubclass(dashfeed.TimeoutError, TimeoutError)
    with pytest.raises(dashfeed.DecodeError) as info:
        dashfeed.decode(b"\x92\x01")
    assert info.value.code == "decode_error"
    assert "truncated" in str(info.value) or "remain" in str(info.value)


def test_large_decodes_with_many_repeated_and_colliding_keys() -> None:
    # Large inputs reuse map-key objects through a small cache: hundreds of distinct keys (forcing slot
    # collisions) and repeated ones must still come back exactly.
    rows = [{f"k{i}": i, "metric_name": f"m{j}", "é✓": j} for j in range(20) for i in range(0, 300, 37)]
    big = {f"key_{i}": {"value": i, "v": [i, {"value": -i}]} for i in range(700)}
    for value in (rows, big):
        data = msgpack.packb(value)
        assert len(data) > 1024
        assert dashfeed.decode(data) == value
        assert dashfeed.decode(gzip.compress(data)) == value


def test_max_depth_setting_is_capped() -> None:
    # A depth limit so high that recursion could overflow a thread's stack is refused up front.
    with pytest.raises(dashfeed.InvalidInputError) as info:
        dashfeed.decode(b"\xc0", max_depth=10_000)
    assert info.value.code == "invalid_input"
    with pytest.raises(dashfeed.InvalidInputError):
        dashfeed.Codec(max_depth=10_000)
    assert dashfeed.decode(b"\x91" * 300 + b"\xc0", max_depth=512) is not None
