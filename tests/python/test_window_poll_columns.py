"""Aggregator.poll_columns / flush_columns: the window results as one Arrow record batch (the Arrow
PyCapsule interface), read by pyarrow, polars and pandas. Each row must be the result poll() would have
returned in its place, in the same order."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import dashfeed

pa = pytest.importorskip("pyarrow")
pl = pytest.importorskip("polars")

QUANTILES = [0.5, 0.99]


def feed(agg: dashfeed.Aggregator, n: int = 6_000) -> None:
    """Events over 30 s of event time: two dashboards, metrics shared by keys with different tags,
    and some late rows."""
    rng = np.random.default_rng(5)
    for i in range(n):
        metric = f"m{int(rng.integers(0, 7))}"
        tags = {"host": f"h{i % 3}"} if i % 4 == 0 else None
        ts = i * 5 - (3_000 if i % 97 == 0 else 0)
        agg.add("d1" if i % 5 else "d2", metric, float(rng.lognormal()), ts, tags)


def flat(result: dict[str, Any]) -> dict[str, Any]:
    """A WindowResult.to_dict() with its quantiles as columns, as WindowColumns holds them."""
    out = {k: v for k, v in result.items() if k != "quantiles"}
    out.update(result["quantiles"])
    return out


def rows(cols: Any) -> list[dict[str, Any]]:
    d = cols.to_pydict()
    return [{k: d[k][i] for k in d} for i in range(len(cols))]


def both(**config: Any) -> tuple[dashfeed.Aggregator, dashfeed.Aggregator]:
    return dashfeed.Aggregator(**config), dashfeed.Aggregator(**config)


@pytest.mark.parametrize("emit", ["final", "updates"])
def test_rows_are_the_results_poll_returns_in_order(emit: str) -> None:
    config: dict[str, Any] = {"window": "1s", "quantiles": QUANTILES, "lateness": "200ms"}
    if emit == "updates":
        config["emit"] = {"mode": "updates", "interval": "250ms"}
    a, b = both(**config)
    feed(a)
    feed(b)
    want = [flat(r.to_dict()) for r in a.poll()]
    cols = b.poll_columns()
    assert len(cols) == len(want) > 100
    assert rows(cols) == want
    assert b.poll() == [] and len(b.poll_columns()) == 0
    want = [flat(r.to_dict()) for r in a.flush()]
    assert rows(b.flush_columns()) == want
    assert a.stats == b.stats


def test_arrow_schema_and_readers() -> None:
    agg = dashfeed.Aggregator(window="1s", quantiles=QUANTILES)
    feed(agg)
    cols = agg.flush_columns()
    assert cols.column_names == [
        "dashboard", "metric", "tags", "start", "end", "count",
        "sum", "min", "max", "mean", "first", "last", "p50", "p99", "final",
    ]
    batch = pa.record_batch(cols)
    assert batch.num_rows == len(cols)
    assert batch.schema.field("metric").type == pa.dictionary(pa.int32(), pa.utf8())
    assert batch.schema.field("start").type == pa.timestamp("ms", tz="UTC")
    assert batch.schema.field("count").type == pa.uint64()
    assert batch.schema.field("tags").type == pa.map_(pa.utf8(), pa.utf8())
    assert batch.schema == pa.schema(cols)
    # The same batch through the stream interface, twice (each call hands out a new stream).
    for _ in range(2):
        assert pa.table(pa.RecordBatchReader.from_stream(cols)).to_batches()[0].equals(batch)
    d = cols.to_pydict()
    assert batch.column("count").to_pylist() == d["count"]
    assert batch.column("start").cast(pa.int64()).to_pylist() == d["start"]
    assert batch.column("tags").to_pylist()[:8] == [list(t.items()) for t in d["tags"][:8]]
    # pandas (through pyarrow): unique categories although keys share metrics and dashboards.
    df = batch.to_pandas()
    assert list(df["metric"].cat.categories) == sorted(set(d["metric"]), key=d["metric"].index)
    assert df["count"].sum() == sum(d["count"]) == 6_000 - agg.stats["late"]
    # polars
    frame = pl.DataFrame(cols)
    assert frame.height == len(cols)
    assert frame["mean"].to_list() == d["mean"]
    assert frame.group_by("dashboard").agg(pl.col("count").sum()).sort("dashboard")[
        "count"
    ].to_list() == [
        sum(c for c, db in zip(d["count"], d["dashboard"]) if db == name) for name in ("d1", "d2")
    ]


def test_an_empty_poll_has_every_column() -> None:
    agg = dashfeed.Aggregator(window="1s", quantiles=[0.9])
    cols = agg.poll_columns()
    assert len(cols) == 0
    batch = pa.record_batch(cols)
    assert batch.num_rows == 0
    assert batch.schema.names[-2:] == ["p90", "final"]
    assert pl.DataFrame(cols).height == 0
    assert cols.to_pydict()["dashboard"] == []


def test_columns_outlive_the_aggregator_and_its_next_results() -> None:
    agg = dashfeed.Aggregator(window="1s")
    for i in range(10):
        agg.add("d", "m", float(i), i * 1_000)
    cols = agg.poll_columns()
    first = pa.record_batch(cols)
    for i in range(10, 20):
        agg.add("d", "m", -1.0, i * 1_000)
    agg.flush()
    del agg
    assert pa.record_batch(cols).equals(first)
    assert first.column("sum").to_pylist() == [float(i) for i in range(9)]


def test_pending_columns_count_toward_the_pending_bound() -> None:
    agg = dashfeed.Aggregator(window="1s", max_pending_results=3)
    assert len(agg.poll_columns()) == 0  # results are written as columns from now on
    for i, m in enumerate(["a", "b", "c"]):
        agg.add("d", m, 1.0, i)
    agg.advance_to(5_000)
    assert agg.stats["pending_results"] == 3
    with pytest.raises(dashfeed.TooLargeError) as err:
        agg.add("d", "a", 1.0, 5_000)
    assert err.value.code == "too_large"
    cols = agg.poll_columns()
    assert cols.to_pydict()["metric"] == ["a", "b", "c"]
    assert agg.stats["pending_results"] == 0
    agg.add("d", "a", 1.0, 5_000)  # room again; the refused add applied nothing
    assert agg.flush_columns().to_pydict()["count"] == [1]
