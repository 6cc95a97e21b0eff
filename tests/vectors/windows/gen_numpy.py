"""Writes tests/vectors/windows/quantiles_numpy.json: window quantiles against numpy.

Run: python3 tests/vectors/windows/gen_numpy.py  (needs numpy; the other window vectors come from gen.py,
standard library only, whose helpers this reuses).

Window quantiles are defined by nearest rank: the value of rank ceil(q*n) (1-based, at least 1) in sorted
order, which is numpy's quantile(method="inverted_cdf"). Each scenario puts n seeded values of one
distribution (uniform, lognormal, pareto) into one tumbling window through one columnar batch and expects
the result whose quantiles are numpy.quantile(values, q, method="inverted_cdf"). Up to 64 values a window
keeps them exactly, so those scenarios have tolerance 0 (equal to numpy); from 65 values on quantiles come
from the sketch's buckets, and the scenarios allow its 1% relative error.

Values are rounded to 6 significant digits so that every JSON reader parses them to the same double.
"""
import pathlib

import numpy as np

from gen import columns, dump, exact_q, flush, qname, res, tumbling

HERE = pathlib.Path(__file__).parent
SIZES = [1, 2, 4, 40, 64, 65, 10_000]
EXACT_MAX = 64
# q*n lands on an integer (q = 0.25, 0.5, 0.75 with n = 4; 0.05 .. 0.95 with n = 40) and between two.
QS = [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999]


def draw(kind, n, rng):
    """n values of a distribution: uniform on [-100, 100) (both signs), lognormal (mu 0, sigma 1.5) or
    pareto (scale 2, shape 1.5: a heavy tail)."""
    if kind == "uniform":
        x = rng.uniform(-100.0, 100.0, n)
    elif kind == "lognormal":
        x = rng.lognormal(0.0, 1.5, n)
    else:
        x = 2.0 * (1.0 + rng.pareto(1.5, n))
    return [float(f"{v:.6g}") for v in x]


def scenario(kind, n, seed):
    values = draw(kind, n, np.random.default_rng(seed))
    exact = n <= EXACT_MAX
    expect = res("lat", 0, 1000, values, values[0], values[-1])
    expect["quantiles"] = {
        qname(q): float(np.quantile(np.array(values), q, method="inverted_cdf")) for q in QS
    }
    # gen.py's own nearest-rank order statistic agrees with numpy.
    assert list(expect["quantiles"].values()) == [exact_q(values, q) for q in QS]
    regime = "exact (tolerance 0)" if exact else "from the sketch's buckets (within 1%)"
    return {
        "name": f"{kind}_n{n}_{'exact' if exact else 'sketch'}",
        "description": f"{n} {kind} values (seed {seed}) in one window: quantiles equal to "
                       f"numpy.quantile(method=\"inverted_cdf\"), {regime}.",
        "config": tumbling("1s", quantiles=QS),
        "quantile_tolerance": 0 if exact else 0.01,
        "steps": [columns("d", "lat", values, 500), flush(expect)],
    }


def scenarios():
    out = []
    for k, kind in enumerate(["uniform", "lognormal", "pareto"]):
        for n in SIZES:
            out.append(scenario(kind, n, seed=1000 * k + n))
    return out


if __name__ == "__main__":
    sc = scenarios()
    description = ("Quantiles by nearest rank against numpy.quantile(method=\"inverted_cdf\"): exact up "
                   "to 64 values, within 1% from the sketch.")
    (HERE / "quantiles_numpy.json").write_text(dump(description, sc))
    print(f"quantiles_numpy.json: {len(sc)} scenarios")
