"""``ops.bench.run_all``: the summary picks ratio columns, missing scripts are pending, the page
names the machine and the one command that reproduces it."""

from __future__ import annotations

from pathlib import Path

from ops.bench import run_all
from ops.bench.run_all import Result, render


def test_headline_takes_the_ratio_columns_of_the_first_row() -> None:
    table = [
        "| jobs | vbq calls/cycle | call ratio | time ratio |",
        "|---:|---:|---:|---:|",
        "| 10000 | 10 | 1,000x fewer | 30.0x faster |",
    ]
    assert Result("bench_poll", "ok", table=table).headline() == (
        "call ratio: 1,000x fewer; time ratio: 30.0x faster"
    )
    assert Result("x", "ok", table=table[:2]).headline() == ""


def test_a_missing_script_is_pending_and_a_failing_one_is_reported() -> None:
    assert run_all.run_one("bench_does_not_exist", 10).status == "pending"
    page = render(
        [
            Result("bench_poll", "ok", 12.0, ["| a | ratio |", "|---|---|", "| 1 | 2.0 |"]),
            Result("bench_e2e", "failed (exit 1)", 3.0, note="boom"),
            Result("bench_outputs", "pending", note="script not written yet"),
        ]
    )
    assert "| `bench_poll` |" in page and "ratio: 2.0" in page
    assert "failed (exit 1): boom" in page
    assert "pending: script not written yet" in page
    assert "`nproc`" in page and "Python 3." in page
    assert "make bench" in page


def test_every_known_benchmark_is_listed_even_before_it_exists() -> None:
    names = run_all.discover()
    assert names[: len(run_all.KNOWN)] == list(run_all.KNOWN)
    assert {"bench_poll", "bench_latency", "bench_e2e", "bench_outputs"} <= set(names)


def test_console_headline_is_its_first_row() -> None:
    table = [
        "| records | Redis MiB | page | p50 ms | p95 ms | ratio to JSON list p50 |",
        "|---:|---:|:--|---:|---:|---:|",
        "| 1,000,000 | 4,267 | overview | 15.0 | 17.8 | 1.14 |",
        "| 1,000,000 | 4,267 | JSON list (baseline) | 13.2 | 15.2 | 1.00 |",
    ]
    assert Result("bench_console", "ok", table=table).headline() == (
        "records: 1,000,000, page: overview, p50 ms: 15.0"
    )


def test_results_round_trip_and_only_keeps_the_others(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    table = ["| x | ratio |", "|--:|--:|", "| 1 | 2.0 |"]
    old = {"bench_a": Result("bench_a", "ok", 3.0, table, ran_at="2026-01-01 00:00")}
    run_all.save_results(old, path)
    stored = run_all.load_results(path)
    assert stored["bench_a"].headline() == "ratio: 2.0"
    stored["bench_b"] = Result("bench_b", "failed (exit 1)", 1.0, note="boom")
    run_all.save_results(stored, path)
    again = run_all.load_results(path)
    assert sorted(again) == ["bench_a", "bench_b"]
    assert again["bench_a"].ran_at == "2026-01-01 00:00"
    assert "2026-01-01 00:00" in render(list(again.values()))


def test_load_results_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    assert run_all.load_results(tmp_path / "nope.json") == {}
