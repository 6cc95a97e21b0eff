"""Regenerates the codec vectors from the real msgpack-python package.

Run: python tests/vectors/codec/gen.py  (needs `pip install msgpack`).
The Rust, Python and Node suites read the files this writes; tests/python/test_codec_vectors.py also checks
that msgpack-python still produces the committed bytes, so a stale vector fails loudly.

Value notation in the JSON files (so that every language can rebuild the exact value):
  JSON number with '.' or exponent -> float; without -> int; {"$bin": "hex"} -> bytes.
  "node": false marks a case JavaScript cannot express (integer-valued floats, ints beyond 2^53).
"""
import gzip
import json
import math
import pathlib

import msgpack

HERE = pathlib.Path(__file__).parent


def to_py(v):
    if isinstance(v, dict):
        if set(v) == {"$bin"}:
            return bytes.fromhex(v["$bin"])
        return {k: to_py(x) for k, x in v.items()}
    if isinstance(v, list):
        return [to_py(x) for x in v]
    return v


def js_ok(v):
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return True
    if isinstance(v, float):
        return not (v.is_integer())
    if isinstance(v, int):
        return abs(v) <= 2**53 - 1
    if isinstance(v, dict):
        if set(v) == {"$bin"}:
            return True
        return all(js_ok(x) for x in v.values())
    if isinstance(v, list):
        return all(js_ok(x) for x in v)
    return False


update = {
    "dashboard_id": "ops",
    "metric_name": "cpu",
    "value": 0.42,
    "timestamp": 1764288000123,
    "metadata": {"host": "web-1", "region": "eu-west"},
}
batch = {
    "dashboard_id": "ops",
    "metrics": [
        {"metric_name": f"metric_{i:02d}", "value": i * 1.25 + 0.5, "timestamp": 1764288000000 + i,
         "metadata": {"host": f"web-{i % 7}", "unit": "ms"}}
        for i in range(50)
    ],
}

VALUES = [
    ("nil", None), ("true", True), ("false", False),
    ("posfixint_0", 0), ("posfixint_127", 127), ("uint8_128", 128), ("uint8_255", 255),
    ("uint16_256", 256), ("uint16_65535", 65535), ("uint32_65536", 65536), ("uint32_max", 2**32 - 1),
    ("uint64_2_32", 2**32), ("uint64_2_53", 2**53 - 1), ("uint64_max", 2**64 - 1),
    ("negfixint_-1", -1), ("negfixint_-32", -32), ("int8_-33", -33), ("int8_-128", -128),
    ("int16_-129", -129), ("int16_-32768", -32768), ("int32_-32769", -32769),
    ("int32_min", -(2**31)), ("int64_below_int32", -(2**31) - 1), ("int64_min", -(2**63)),
    ("float_0.42", 0.42), ("float_-1.5", -1.5), ("float_1.0", 1.0), ("float_0.0", 0.0), ("float_1e100", 1e100),
    ("float_tiny", 5e-324), ("float_pi", math.pi),
    ("str_empty", ""), ("str_fix", "cpu"), ("str_31", "a" * 31), ("str8_32", "b" * 32), ("str8_255", "c" * 255),
    ("str16_256", "d" * 256), ("str16_65535", "e" * 65535), ("str32_65536", "f" * 65536),
    ("str_unicode", "héllo ✓ 日本 🚀"),
    ("bin_empty", {"$bin": ""}), ("bin8", {"$bin": "00ff10"}), ("bin16_256", {"$bin": "ab" * 256}),
    ("array_empty", []), ("array_fix", [1, "two", 3.5, None, True]), ("array16_16", list(range(16))),
    ("array32_65536", [0] * 65536),
    ("map_empty", {}), ("map_order_kept", {"z": 1, "a": 2, "m": 3}), ("map16_16", {f"k{i}": i for i in range(16)}),
    ("nested", {"a": [{"b": [[], {}]}, {"c": {"d": [1, [2, [3]]]}}]}),
    ("reference_update", update), ("batch_50_metrics", batch),
]


def dump(path, key, items, extra=None):
    """One case per line: small diffs, readable files."""
    body = ",\n".join(json.dumps(c, ensure_ascii=False) for c in items)
    tail = "".join(f',\n"{k}": {json.dumps(v)}' for k, v in (extra or {}).items())
    (HERE / path).write_text(f'{{"{key}": [\n{body}\n]{tail}}}\n')


def main():
    cases = []
    for name, v in VALUES:
        py = to_py(v)
        packed = msgpack.packb(py)
        case = {"name": name, "value": v, "msgpack": packed.hex()}
        if "$bin" not in json.dumps(v) and len(packed) < 4096:
            case["json"] = json.dumps(py, separators=(",", ":"), ensure_ascii=False)
        if not js_ok(v):
            case["node"] = False
        cases.append(case)
    dump("values.json", "cases", cases)

    gz = []
    for name, v, over in [("batch_gzipped_by_python", batch, 1024), ("update_gzipped_by_python", update, 16)]:
        packed = msgpack.packb(v)
        gz.append({"name": name, "value": v, "msgpack": packed.hex(), "gzip": gzip.compress(packed).hex(),
                   "compress_over": over})
    dump("gzip.json", "cases", gz)

    errors = [
        {"name": "empty", "hex": "", "code": "decode_error"},
        {"name": "truncated_array", "hex": "9201", "code": "decode_error"},
        {"name": "truncated_str", "hex": "a5616263", "code": "decode_error"},
        {"name": "truncated_float64", "hex": "cb3fdae1", "code": "decode_error"},
        {"name": "trailing_garbage", "hex": "01ff", "code": "decode_error"},
        {"name": "trailing_second_value", "hex": "8000", "code": "decode_error"},
        {"name": "reserved_marker", "hex": "c1", "code": "decode_error"},
        {"name": "huge_array32_declared", "hex": "ddffffffff", "code": "decode_error"},
        {"name": "huge_map32_declared", "hex": "dfffffffff", "code": "decode_error"},
        {"name": "huge_str32_declared", "hex": "dbffffffff41", "code": "decode_error"},
        {"name": "huge_bin32_declared", "hex": "c6ffffffff00", "code": "decode_error"},
        {"name": "invalid_utf8_str", "hex": "a2c328", "code": "decode_error"},
        {"name": "depth_129", "hex": "91" * 129 + "c0", "code": "too_deep"},
        {"name": "depth_10000", "hex": "91" * 10000 + "c0", "code": "too_deep"},
        {"name": "gzip_truncated", "hex": gzip.compress(msgpack.packb(batch))[:40].hex(), "code": "decode_error"},
        {"name": "gzip_magic_then_garbage", "hex": "1f8b0000", "code": "decode_error"},
        {"name": "json_trailing", "format": "json", "text": "{\"a\":1} x", "code": "decode_error"},
        {"name": "json_truncated", "format": "json", "text": "{\"a\":", "code": "decode_error"},
        {"name": "json_depth_129", "format": "json", "text": "[" * 129 + "]" * 129, "code": "too_deep"},
    ]
    ok_depth = {"name": "depth_128_ok", "hex": "91" * 128 + "c0"}
    dump("errors.json", "errors", errors, {"ok": [ok_depth]})


if __name__ == "__main__":
    main()
