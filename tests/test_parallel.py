"""Per-value calls shared among forked processes come back complete and in order, and stay on
this core when they are few or quick."""

from __future__ import annotations

from crmmigrate import parallel


def square_with_offset(offset: int):
    return lambda value: value * value + offset  # a closure: inherited by fork, never pickled


def test_many_slow_calls_are_shared_and_come_back_in_order(monkeypatch):
    monkeypatch.setattr(parallel, "AT_LEAST", 10)
    monkeypatch.setattr(parallel, "SAMPLE", 3)
    monkeypatch.setattr(parallel, "SECONDS", 0.0)  # anything counts as slow
    monkeypatch.setattr(parallel, "cores", lambda limit=8: 2)
    pools = []
    pool = parallel.ProcessPoolExecutor
    monkeypatch.setattr(parallel, "ProcessPoolExecutor", lambda *a, **k: pools.append(a) or pool(*a, **k))

    found = parallel.each(square_with_offset(7), list(range(1000)))

    assert found == [v * v + 7 for v in range(1000)]
    assert pools == [(2,)]


def test_few_or_quick_calls_stay_on_this_core(monkeypatch):
    pools = []
    monkeypatch.setattr(parallel, "ProcessPoolExecutor", lambda *a, **k: pools.append(a))
    monkeypatch.setattr(parallel, "cores", lambda limit=8: 2)

    assert parallel.each(square_with_offset(1), list(range(100))) == [v * v + 1 for v in range(100)]
    monkeypatch.setattr(parallel, "AT_LEAST", 10)
    monkeypatch.setattr(parallel, "SAMPLE", 5)
    assert parallel.each(square_with_offset(1), list(range(5000))) == [v * v + 1 for v in range(5000)]
    assert pools == []  # 5,000 squares take far less than 3 s


def test_cores_are_at_least_one_and_at_most_the_limit():
    assert 1 <= parallel.cores(limit=2) <= 2
    assert parallel.cores(limit=1) == 1
