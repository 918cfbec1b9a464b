"""Nothing a reader sees moves when code moves: run ids, verdicts and every figure's data, from the committed store."""
import json
import math
import re

import pytest

from equilib.base.store import RunStore, run_id

from book_numbers import book_numbers
from conftest import ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "book_numbers.json"


@pytest.mark.parametrize("experiment", ["nbody", "mnist"])
def test_every_committed_run_id_is_the_hash_of_its_config(experiment):
    runs = RunStore(ROOT / "results", experiment).runs()
    assert len(runs) > 100
    recomputed = [run_id(json.loads(config)) for config in runs.config]
    assert recomputed == runs.run_id.tolist()


_FIELD = re.compile(r"(\w+)=([^,()]+)")


def _fields(text: str) -> dict | None:
    """An object a frame wrote by its repr, such as ``Difference(estimate=..., se=..., ...)``, as its fields
    (floats where they parse), so that it is compared to float rounding like every other number."""
    if not re.fullmatch(r"\w+\(.*\)", text):
        return None
    out = {}
    for key, value in _FIELD.findall(text):
        try:
            out[key] = float(value)
        except ValueError:
            out[key] = value
    return {"type": text.split("(", 1)[0], **out}


def _same(a, b, path="") -> None:
    """Equal, numbers to 1e-12 (summation order differs between CPUs: numpy's SIMD sums are not bit for bit)."""
    if isinstance(a, str) and isinstance(b, str) and _fields(a) and _fields(b):
        _same(_fields(a), _fields(b), path)
    elif isinstance(a, float) or isinstance(b, float):
        assert (a is None and b is None) or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15) or (
            math.isnan(a) and math.isnan(b)), f"{path}: {a!r} != {b!r}"
    elif isinstance(a, dict):
        assert sorted(a) == sorted(b), f"{path}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            _same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), f"{path}: {len(a)} items != {len(b)}"
        for k, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{path}[{k}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


@pytest.mark.slow
def test_the_book_numbers_are_those_the_committed_store_gave_before_the_move():
    _same(book_numbers(), json.loads(FIXTURE.read_text()))
