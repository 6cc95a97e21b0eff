"""Writes the base seeds of the fuzz corpus (tests/fuzz/corpus/<target>/seed-*).

Each corpus file is one input of a target: a first byte choosing the target's options (see
core/tests/fuzz_support/targets.rs), then the bytes the parser reads. Seeds come from the shared
vectors (tests/vectors), the documented examples (docs/protocol.md, examples/*.toml) and the hostile
inputs of the limit tests. Inputs that found bugs are kept next to them as bug-* files and are never
rewritten by this script. Run it from anywhere: python3 tests/fuzz/make_seeds.py
"""

import gzip
import json
import re
from pathlib import Path

import msgpack

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fuzz" / "corpus"


def write(target, name, sel, payload):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(payload, str):
        payload = payload.encode()
    (folder / f"seed-{name}").write_bytes(bytes([sel]) + payload)


def vectors(path):
    return json.loads((ROOT / "tests" / "vectors" / path).read_text())


def packb(value):
    return msgpack.packb(value, use_bin_type=True)


def codec():
    # first byte: bit 0 format (0 msgpack, 1 JSON), bits 1-2 the limits preset
    for case in vectors("codec/values.json")["cases"]:
        raw = bytes.fromhex(case["msgpack"])
        if len(raw) <= 4096:
            write("codec_decode", f"mp-{case['name']}", 0, raw)
        if case.get("json") is not None and len(case["json"]) <= 4096:
            write("codec_decode", f"json-{case['name']}", 1, case["json"])
    errors = vectors("codec/errors.json")
    for case in errors["errors"] + errors["ok"]:
        if "hex" in case:
            write("codec_decode", f"err-{case['name']}", 0, bytes.fromhex(case["hex"]))
        else:
            write("codec_decode", f"err-{case['name']}", 1, case["text"])
    for case in vectors("codec/gzip.json")["cases"]:
        write("codec_decode", f"gz-{case['name']}", 0, bytes.fromhex(case["gzip"]))
    bomb = gzip.compress(b"\x00" * (1 << 20), 9)
    write("codec_decode", "gzip-bomb-1mib-tight-cap", 2, bomb)
    nils = gzip.compress(b"\xdd\x00\x01\x00\x00" + b"\xc0" * 65536, 9)
    write("codec_decode", "gzip-65536-nils", 0, nils)
    two = gzip.compress(packb({"a": 1})) + gzip.compress(b"")
    write("codec_decode", "gzip-two-members", 0, two)
    write("codec_decode", "deep-600-arrays", 4, b"\x91" * 600 + b"\xc0")
    write("codec_decode", "deep-512-arrays", 4, b"\x91" * 512 + b"\xc0")
    write("codec_decode", "json-deep-600", 5, "[" * 600 + "]" * 600)
    write("codec_decode", "json-numbers", 1, "[1e999,-0,18446744073709551616,1.5e-400]")
    write("codec_decode", "json-escapes", 1, '["\\ud800","\\u0000","\\ud83d\\ude00"]')
    write("codec_decode", "ext-type", 0, b"\xd4\x01\x00")


def client():
    # first byte: bit 0 format (0 JSON, 1 msgpack), bits 1-2 the size limit
    text = (ROOT / "docs" / "protocol.md").read_text()
    block = re.search(r"```json client\n(.*?)```", text, re.S).group(1)
    for i, line in enumerate(block.strip().splitlines()):
        write("client_op", f"doc-{i}", 0, line)
        write("client_op", f"doc-mp-{i}", 1, packb(json.loads(line)))
    for i, bad in enumerate(
        [
            "{not json",
            "[1,2]",
            '{"op":"dance"}',
            '{"op":7}',
            '{"op":"subscribe","dashboard":"d","since":{"epoch":"e","seq":-1}}',
            '{"op":"ping","id":[1]}',
            '{"op":"ping","id":1e999}',
        ]
    ):
        write("client_op", f"bad-{i}", 0, bad)
    write("client_op", "mp-gzip-ping", 1, gzip.compress(packb({"op": "ping", "id": 1})))
    write("client_op", "mp-nan-id", 1, b"\x82\xa2op\xa4ping\xa2id\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00")
    write("client_op", "mp-bin-epoch", 1, packb({"op": "subscribe", "dashboard": "d", "since": {"epoch": b"e", "seq": 1}}))


def events():
    # ingest: bit 0 format (0 JSON, 1 msgpack), bits 1-2 the size limit;
    # payload: bits 0-1 format (auto, JSON, msgpack, auto), bit 2 an origin id, bit 3 the size limit
    cases = vectors("events/shapes.json")["cases"]
    for i, case in enumerate(cases):
        body = json.dumps(case["input"])
        write("ingest_events", f"shape-{i}", 0, body)
        write("ingest_events", f"shape-mp-{i}", 1, packb(case["input"]))
        write("connector_payload", f"shape-{i}", 4, body)
        write("connector_payload", f"shape-mp-{i}", 6, packb(case["input"]))
    batch = [case["input"] for case in cases[:4]]
    write("ingest_events", "batch-gzip", 0, gzip.compress(json.dumps(batch).encode()))
    write("connector_payload", "batch-gzip-mp", 4, gzip.compress(packb(batch)))
    meta = {"dashboard": "d", "metric": "m", "value": 1, "metadata": {"blob": b"\x00\x01", 5: [1]}}
    write("ingest_events", "mp-binary-metadata", 1, packb(meta))
    write("connector_payload", "mp-binary-metadata", 2, packb(meta))
    edge = {"dashboard": "d", "metric": "m", "value": 1, "timestamp": 1e11, "ts": 100000000000000}
    write("ingest_events", "timestamp-switch", 0, json.dumps(edge))


def config():
    # first byte: bit 0 format (0 TOML, 1 JSON)
    for path in sorted((ROOT / "examples").glob("*.toml")):
        write("pipeline_config", f"example-{path.stem}", 0, path.read_text())
    docs = [
        "[server]\nport = 80\nprot = 1\n",
        '[[source]]\nkind = "redis_stream"\nstream = "s"\nbogus = 1\n',
        '[aggregator]\nwindow = { kind = "hopping", size = "10s", slide = "5s" }\n'
        'emit = { mode = "updates", interval = "1s" }\nquantiles = [0.5, 0.99]\n',
        '[hub]\nhistory_age = "99999999999999999999.9999d"\npolicy = "drop_oldest"\n',
        '[[sink]]\nkind = "redis_cache"\nqueue = { max_records = 10, batch = 5 }\n',
        '[server.auth]\nhs256_secret = "s"\nleeway = "30s"\n',
        "a = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
    ]
    for i, doc in enumerate(docs):
        write("pipeline_config", f"doc-{i}", 0, doc)
    write("pipeline_config", "json-hub-sink", 1, '{"hub": {"history": 5}, "sink": [{"kind": "redis_stream", "stream": "x"}]}')


def jwt():
    # first byte: bit 0 raw token, else header \0 claims; bits 1-3 leeway, issuer, audience
    hs = b'{"alg":"HS256","typ":"JWT"}'
    later = 4102444800  # 2100-01-01
    tokens = {
        "valid": (0, hs, {"exp": later, "sub": "alice", "dashboards": ["team-*"]}),
        "one-pattern": (0, hs, {"exp": later, "dashboards": "ops"}),
        "expired": (0, hs, {"exp": 1000000000}),
        "no-exp": (0, hs, {"sub": "a"}),
        "exp-string": (0, hs, {"exp": str(later)}),
        "exp-float": (0, hs, {"exp": later + 0.5}),
        "nbf-later": (0, hs, {"exp": later, "nbf": later - 1}),
        "alg-none": (0, b'{"alg":"none"}', {"exp": later}),
        "alg-rs256": (0, b'{"alg":"RS256"}', {"exp": later}),
        "iss-aud": (12, hs, {"exp": later, "iss": "fuzz-iss", "aud": ["fuzz-aud"]}),
        "leeway": (2, hs, {"exp": later, "dashboards": [1]}),
        "iss-list": (4, hs, {"exp": later, "iss": ["other", "fuzz-iss"]}),
    }
    for name, (sel, header, claims) in tokens.items():
        write("jwt_verify", name, sel, header + b"\x00" + json.dumps(claims).encode())
    # a claim the verifier skips may hold what strict JSON refuses (a lone surrogate escape)
    write("jwt_verify", "ignored-claim-lone-surrogate", 0, hs + b'\x00{"exp": 4102444800, "x": ["\\ud800a"]}')
    write("jwt_verify", "raw-three-dots", 1, "a.b.c")
    write("jwt_verify", "raw-doc-token", 1, "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjE3MDAwMDAwMDB9.c2lnbmF0dXJl")


if __name__ == "__main__":
    codec()
    client()
    events()
    config()
    jwt()
    for folder in sorted(CORPUS.iterdir()):
        print(f"{folder.name}: {len(list(folder.iterdir()))} files")
