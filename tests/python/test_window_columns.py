"""Aggregator.add_many / add_table on columns without a Python object per row: a categorical
(names, codes) pair, pandas Categorical, and Arrow data through the PyCapsule interface (pyarrow,
polars, pandas). Each form must give the results of adding the rows one by one, and every refused
batch must leave the aggregator's state as it was."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import dashfeed

pa = pytest.importorskip("pyarrow")
pd = pytest.importorskip("pandas")
pl = pytest.importorskip("polars")

N = 20_000
NAMES = [f"m{i}" for i in range(13)]


def rows() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    codes = rng.integers(0, len(NAMES), size=N).astype(np.int32)
    values = rng.lognormal(size=N)
    # 3 minutes of event time (keys are forgotten and re-interned), with some late rows
    ts = (np.arange(N) * 180_000 // N).astype(np.int64)
    ts[::37] -= 5_000
    return codes, values, ts


def reference(codes: np.ndarray, values: np.ndarray, ts: np.ndarray) -> Any:
    agg = dashfeed.Aggregator(window="1s", lateness="200ms", quantiles=[0.5])
    for c, v, t in zip(codes.tolist(), values.tolist(), ts.tolist()):
        agg.add("ops", NAMES[c], v, t)
    return state(agg)


def state(agg: dashfeed.Aggregator) -> Any:
    late = agg.take_late()
    stats = agg.stats
    return stats, late, [r.to_dict() for r in agg.flush()]


def fresh() -> dashfeed.Aggregator:
    return dashfeed.Aggregator(window="1s", lateness="200ms", quantiles=[0.5])


def test_every_column_form_gives_the_per_event_results() -> None:
    codes, values, ts = rows()
    want = reference(codes, values, ts)
    metrics = [NAMES[c] for c in codes.tolist()]
    cat = pd.Categorical.from_codes(codes, categories=NAMES)
    forms: dict[str, Any] = {
        "(names, codes) int32": (NAMES, codes),
        "(names, codes) int8": (tuple(NAMES), codes.astype(np.int8)),
        "(names, codes) uint16": (NAMES, codes.astype(np.uint16)),
        "(names, codes) list": (NAMES, codes.tolist()),
        "list of str (shared objects)": metrics,
        # Equal texts in distinct objects: the identity encoding must still give one key per text.
        "list of str (an object per row)": ["".join(["m", str(c)]) for c in codes.tolist()],
        "list of str (both, mixed)": [m if i % 2 else "".join(m) for i, m in enumerate(metrics)],
        "tuple of str": tuple(metrics),
        "pandas Categorical": cat,
        "pandas category Series": pd.Series(cat),
        "pyarrow dictionary": pa.array(metrics).dictionary_encode(),
        "pyarrow strings": pa.array(metrics),
        "pyarrow chunked": pa.chunked_array([metrics[:7000], metrics[7000:]]).dictionary_encode(),
        "polars Categorical": pl.Series(metrics, dtype=pl.Categorical),
        "polars strings": pl.Series(metrics),
        "pandas pyarrow strings": pd.Series(metrics, dtype="string[pyarrow]"),
    }
    for label, column in forms.items():
        agg = fresh()
        assert agg.add_many("ops", column, values, ts) == N, label
        assert state(agg) == want, label
    # Arrow values and times, chunked differently from the metrics column.
    agg = fresh()
    v = pa.chunked_array([values[:5000], values[5000:]])
    t = pa.chunked_array([ts[:12345], ts[12345:]])
    assert agg.add_many("ops", pa.array(metrics).dictionary_encode(), v, t) == N
    assert state(agg) == want
    # The same with the metrics as a list of str: repeated objects (dictionary-encoded by identity)
    # and one object per row (kept one name per row), cut at the other columns' chunk boundaries.
    for column in (metrics, ["".join(["m", str(c)]) for c in codes.tolist()]):
        agg = fresh()
        assert agg.add_many("ops", column, v, t) == N
        assert state(agg) == want
    # Timestamps in other units are converted to ms.
    agg = fresh()
    assert agg.add_many("ops", (NAMES, codes), values, pa.array(ts * 1000, pa.timestamp("us"))) == N
    assert state(agg) == want


def test_tables_from_pyarrow_polars_and_pandas() -> None:
    codes, values, ts = rows()
    want = reference(codes, values, ts)
    metrics = [NAMES[c] for c in codes.tolist()]
    cols = {"metric": metrics, "value": values, "ts": ts}
    tables: dict[str, Any] = {
        "pyarrow": pa.table(cols),
        "pyarrow batches": pa.Table.from_batches(pa.table(cols).to_batches(max_chunksize=3000)),
        "polars categorical": pl.DataFrame(cols).with_columns(pl.col("metric").cast(pl.Categorical)),
        "pandas": pd.DataFrame({**cols, "metric": pd.Categorical(metrics)}),
    }
    for label, table in tables.items():
        agg = fresh()
        assert agg.add_table(table, dashboard="ops") == N, label
        assert state(agg) == want, label
    agg = fresh()
    assert agg.add_table(pa.table({"dashboard": ["ops"] * N, **cols})) == N
    assert state(agg) == want


def test_bad_batches_are_refused_with_invalid_input_and_apply_nothing() -> None:
    codes, values, ts = rows()
    agg = fresh()
    agg.add_many("ops", (NAMES, codes[:100]), values[:100], ts[:100])
    before = agg.stats
    five = np.ones(5)
    cases: dict[str, Any] = {
        "code out of range": lambda: agg.add_many("ops", (NAMES, np.array([0, 1, 13, 2, 3])), five, 1),
        "negative code": lambda: agg.add_many("ops", (NAMES, np.array([0, -1, 1, 2, 3])), five, 1),
        "pandas NaN": lambda: agg.add_many("ops", pd.Categorical(["m0", None, "m1", "m1", "m1"]), five, 1),
        "codes length": lambda: agg.add_many("ops", (NAMES, np.array([0, 1])), five, 1),
        "empty name used": lambda: agg.add_many("ops", (["a", ""], np.array([0, 0, 0, 1, 0])), five, 1),
        "empty name in a list": lambda: agg.add_many("ops", ["a", "b", "a", "", "b"], five, 1),
        "not a str in a list": lambda: agg.add_many("ops", ["a", "b", 3, "a", "b"], five, 1),
        # Mostly distinct names: read row by row from the 27th name on, where the bad item is.
        "not a str after many names": lambda: agg.add_many(
            "ops", [f"n{i}" for i in range(40)] + [3], np.ones(41), 1
        ),
        "arrow null metric": lambda: agg.add_many("ops", pa.array(["a", None, "b", "b", "b"]), five, 1),
        "arrow null code": lambda: agg.add_many(
            "ops", pa.array(["a", None, "b", "b", "b"]).dictionary_encode(), five, 1
        ),
        "arrow null value": lambda: agg.add_many("ops", "m", pa.array([1.0, None, 2.0]), 1),
        "arrow null ts": lambda: agg.add_many("ops", "m", np.ones(2), pa.array([1, None], pa.int64())),
        "arrow value type": lambda: agg.add_many("ops", "m", pa.array([1, 2], pa.int32()), 1),
        "arrow lengths": lambda: agg.add_many("ops", pa.array(["a", "b"]), pa.array([1.0, 2.0, 3.0]), 1),
        "table without metric": lambda: agg.add_table(pa.table({"value": [1.0]}), dashboard="ops"),
        "late in the batch, bad at the end": lambda: agg.add_many(
            "ops", (NAMES, np.array([0, 1, 2, 3, 99])), five, np.array([0, 10**9, 2, 3, 4])
        ),
    }
    for label, call in cases.items():
        with pytest.raises(dashfeed.InvalidInputError) as err:
            call()
        assert err.value.code == "invalid_input", label
        assert agg.stats == before, f"nothing applied: {label}"
    assert "out of range" in str(pytest.raises(dashfeed.InvalidInputError, cases["code out of range"]).value)
    assert "is null" in str(pytest.raises(dashfeed.InvalidInputError, cases["pandas NaN"]).value)
    assert "metrics[3]" in str(pytest.raises(dashfeed.InvalidInputError, cases["empty name in a list"]).value)
    # The intact state goes on as if the refused batches never came.
    agg.add_many("ops", (NAMES, codes[100:]), values[100:], ts[100:])
    assert state(agg) == reference(codes, values, ts)


def test_unused_categories_are_not_checked_and_other_forms_still_work() -> None:
    agg = dashfeed.Aggregator(window="1s")
    cat = pd.Categorical(["a", "a"], categories=["a", "", "b"])
    assert agg.add_many("d", cat, [1.0, 2.0], 0) == 2
    assert agg.add_many(("x", "y"), "m", [1.0, 2.0], 0) == 2, "a tuple of str is one name per row"
    got = sorted((r.dashboard, r.metric, r.count) for r in agg.flush())
    assert got == [("d", "a", 2), ("x", "m", 1), ("y", "m", 1)]
