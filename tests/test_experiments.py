"""The experiment layer: validation, the protocol, the resumable store and the tables."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mabprune import data
from mabprune.study import cells, runner, store
from mabprune.study.runner import missing_runs, run_grid
from mabprune.study.tables import cost_table, load_records, mean_ranks, score_table, sweep_table
from mabprune.study.plan import plan_runs
from mabprune.study.profiles import PROFILES, grid_spec

REPO = Path(__file__).resolve().parents[1]
# One dataset, three methods (UCB1, magnitude, none) and a two-point UCB1 sweep: 5 runs.
SMOKE = dict(profile="smoke")


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


# ----------------------------------------------------------------------------- validation

@pytest.mark.parametrize("overrides, message", [
    (dict(datasets=["sklearn:iriss"]), r"unknown dataset 'sklearn:iriss'\. Did you mean 'sklearn:iris'"),
    (dict(amount=1.5), r"amount must be a fraction in \(0, 1\), got 1\.5"),
    (dict(methods=["ucb"]), r"unknown method 'ucb'\. Did you mean 'ucb1'"),
    (dict(seeds=3), r"seeds must be a list of integers"),
    (dict(seeds=[0, "1"]), r"seeds must be a non-empty list of non-negative integers"),
    (dict(n_jobs=0), r"n_jobs must be an integer >= 1, got 0"),
    (dict(amont=0.3), r"unknown parameter 'amont'\. Did you mean 'amount'"),
    (dict(datasets=["sklearn:diabetes"]), r"'sklearn:diabetes' is a regression dataset"),
    (dict(sweep_amounts=[0.5, 1.0]), r"each of sweep_amounts must be a fraction in \(0, 1\), got 1\.0"),
    (dict(regressors=["ridge"]), r"regressors are fitted in the regression family only"),
    (dict(device="tpu"), r"unknown device 'tpu'"),
    (dict(seeds=[0, 2**32]), r"non-negative integers \(at most 2\*\*32 - 1\), got \[0, 4294967296\]"),
    (dict(device="meta"), r"device 'meta' is not supported"),
])
def test_bad_overrides_fail_fast_with_their_message(overrides, message):
    with pytest.raises(ValueError, match=message):
        grid_spec("classification", "smoke", **overrides)


def test_bad_profile_and_family():
    with pytest.raises(ValueError, match=r"unknown profile 'quik'\. Did you mean 'quick'"):
        grid_spec("classification", "quik")
    with pytest.raises(ValueError, match=r"unknown family 'tabular'"):
        grid_spec("tabular", "smoke")


def test_profiles_state_their_rule_and_none_keeps_the_default():
    for name, profile in PROFILES.items():
        assert profile.__doc__ == profile.rule and len(profile.rule) > 40
    spec = grid_spec("regression", "quick", amount=None, seeds=None, datasets=None)
    assert spec.seeds == (0, 1, 2, 3, 4) and spec.amount == 0.5
    assert len(spec.methods) == 11 and len(spec.regressors) == 9
    assert grid_spec("deep_learning", "quick").datasets == ("sklearn:digits", "synthetic:parity", "synthetic:modsum")


def test_standard_selection_follows_its_rule(shared_data):
    from mabprune.study.profiles import STANDARD_PMLB, standard_pmlb

    for task in ("classification", "regression"):
        assert list(STANDARD_PMLB[task]) == standard_pmlb(task, shared_data)


def test_cache_key_covers_what_affects_the_result_only():
    base = {r["key"]: r for r in plan_runs(grid_spec("classification", "smoke"))}
    assert len(base) == 5
    # The device, the data root and n_jobs do not change a result's key.
    same = plan_runs(grid_spec("classification", "smoke", device="cpu", n_jobs=2, data_root="/elsewhere"))
    assert {r["key"] for r in same} == set(base)
    # More rounds change the bandit runs only; the baselines keep their keys.
    changed = {r["key"] for r in plan_runs(grid_spec("classification", "smoke", rounds=11))}
    kept = {base[k]["method"] for k in changed & set(base)}
    assert kept == {"magnitude", "none"}


# ----------------------------------------------------------------------------- protocol

def test_same_seed_gives_identical_records(tmp_path):
    spec = grid_spec("classification", "smoke")
    a = run_grid(spec, results_dir=tmp_path / "a", progress=False)
    b = run_grid(spec, results_dir=tmp_path / "b", progress=False)
    cols = ["key", "metric_before", "metric_after", "params_after", "n_removed", "pulls", "estimates", "counts"]
    assert (a["status"] == "ok").all()
    pd.testing.assert_frame_equal(a[cols], b[cols])
    other = run_grid(grid_spec("classification", "smoke", seeds=[1]), results_dir=tmp_path / "c", progress=False)
    assert other["estimates"].iloc[0] != a["estimates"].iloc[0]


def test_reward_data_is_the_validation_split(tmp_path, monkeypatch):
    seen = []
    real = cells.prune

    def spy(model, reward_data, **kw):
        seen.append(reward_data)
        return real(model, reward_data, **kw)

    monkeypatch.setattr(cells, "prune", spy)
    run_grid(grid_spec("classification", "smoke", sweep_methods=[]), results_dir=tmp_path, progress=False)
    ds = data.load("sklearn:iris", seed=0, max_rows=300)
    assert len(seen) == 5  # ucb1 and magnitude also once without fine-tuning (score_no_ft); none once
    for X, y in seen:
        np.testing.assert_array_equal(X, ds.X_val)
        np.testing.assert_array_equal(y, ds.y_val)
        assert X.shape != ds.X_test.shape or not np.array_equal(X, ds.X_test)


def test_regression_r2_is_that_of_the_original_scale(tmp_path):
    from sklearn.linear_model import LinearRegression

    spec = grid_spec("regression", "smoke", methods=["none"], sweep_methods=[], regressors=["linear"])
    df = run_grid(spec, results_dir=tmp_path, progress=False).set_index("method")
    assert df.loc["linear", "metric_name"] == "r2" and df.loc["linear", "kind"] == "regressor"
    ds = data.load("make:friedman1", seed=0, max_rows=300)  # targets on their original scale
    pred = LinearRegression().fit(ds.X_train, ds.y_train).predict(ds.X_test)
    r2 = 1 - ((ds.y_test - pred) ** 2).sum() / ((ds.y_test - ds.y_test.mean()) ** 2).sum()
    assert df.loc["linear", "metric_after"] == pytest.approx(r2, abs=1e-4)
    assert np.isfinite(df.loc["none", "metric_before"])


# ----------------------------------------------------------------------------- store

def test_cache_changed_parameter_and_recompute(tmp_path):
    spec = grid_spec("classification", "smoke")
    first = run_grid(spec, results_dir=tmp_path, progress=False)
    assert first.attrs["computed"] == 5 and first.attrs["loaded"] == 0
    again = run_grid(spec, results_dir=tmp_path, progress=False)
    assert again.attrs["computed"] == 0 and again.attrs["loaded"] == 5
    pd.testing.assert_frame_equal(first.drop(columns="timestamp"), again.drop(columns="timestamp"))
    # rounds steer the bandit only: UCB1's prune run and its two sweep runs are recomputed.
    more = run_grid(grid_spec("classification", "smoke", rounds=12), results_dir=tmp_path, progress=False)
    assert more.attrs["computed"] == 3 and more.attrs["loaded"] == 2
    assert set(more[more["params"].map(lambda p: p.get("prune", {}).get("rounds") == 12)]["method"]) == {"ucb1"}
    everything = run_grid(spec, results_dir=tmp_path, recompute=True, progress=False)
    assert everything.attrs["computed"] == 5
    keys = [r["key"] for r in lines(tmp_path / "classification.jsonl")]
    assert len(keys) == len(set(keys)) == 8  # superseded records compacted away
    assert missing_runs(spec, tmp_path) == []


def test_failing_run_is_recorded_and_the_grid_goes_on(tmp_path, monkeypatch):
    real = cells.prune

    def flaky(model, reward_data, **kw):
        if kw["method"] == "magnitude":
            raise RuntimeError("boom")
        return real(model, reward_data, **kw)

    monkeypatch.setattr(cells, "prune", flaky)
    spec = grid_spec("classification", "smoke")
    df = run_grid(spec, results_dir=tmp_path, progress=False)
    status = dict(zip(df["method"] + "/" + df["kind"], df["status"]))
    assert status["magnitude/prune"] == "error: RuntimeError: boom"
    assert status["none/prune"] == "ok" and status["ucb1/sweep"] == "ok" and df.attrs["errors"] == 1
    assert "boom" in df.set_index("method").loc["magnitude", "traceback"]
    monkeypatch.setattr(cells, "prune", real)
    # Errors are not cached: the next call retries exactly the failed run.
    again = run_grid(spec, results_dir=tmp_path, progress=False)
    assert again.attrs["computed"] == 1 and (again["status"] == "ok").all()
    keys = [r["key"] for r in lines(tmp_path / "classification.jsonl")]
    assert len(keys) == len(set(keys)) == 5


def test_unavailable_dataset_fails_before_compute(tmp_path, monkeypatch):
    monkeypatch.delenv("MABPRUNE_DOWNLOAD", raising=False)
    spec = grid_spec("deep_learning", "smoke", datasets=["text:trec"], data_root=str(tmp_path / "empty"))
    with pytest.raises(ValueError, match=r"datasets not available under the data root .*: text:trec"):
        run_grid(spec, results_dir=tmp_path / "store", progress=False)
    assert not (tmp_path / "store" / "deep_learning.jsonl").exists()


def test_torn_last_line_is_dropped_and_repaired(tmp_path):
    path = tmp_path / "classification.jsonl"
    good = [{"key": "a", "status": "ok"}, {"key": "b", "status": "ok"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in good) + '{"key": "c", "sta')
    assert list(store.load_store(path)) == ["a", "b"]
    assert path.read_text().endswith("}\n") and path.read_text().count("\n") == 2
    path.write_text(json.dumps(good[0]) + "\n" + json.dumps(good[1]))  # complete, only the newline lost
    assert list(store.load_store(path)) == ["a", "b"]
    store.append_record(path, {"key": "d", "status": "ok"})
    assert [r["key"] for r in lines(path)] == ["a", "b", "d"]


def test_unparseable_lines_are_set_aside_with_a_warning_not_deleted(tmp_path):
    # Regression (issue 22 §4): a damaged line in the middle of a store vanished on the next write.
    path = tmp_path / "classification.jsonl"
    good = [json.dumps({"key": k, "status": "ok"}) for k in "abc"]
    damaged = ["garbage from another tool", '{"key": "x", "sta', "[1, 2]"]
    path.write_text("\n".join([good[0], damaged[0], good[1], damaged[1], damaged[2], good[2]]) + "\n")
    side = tmp_path / "classification.jsonl.rejected"
    with pytest.warns(UserWarning, match=f"3 unparseable lines .*{path.name}.* moved to {side}"):
        assert list(store.load_store(path)) == ["a", "b", "c"]
    assert side.read_text().splitlines() == damaged
    assert [r["key"] for r in lines(path)] == ["a", "b", "c"]
    with open(path, "a") as fh:  # more damage later: appended to the side file, the first kept
        fh.write("more garbage\n")
    with pytest.warns(UserWarning, match="1 unparseable line "):
        store.load_store(path)
    assert side.read_text().splitlines() == damaged + ["more garbage"]


def test_load_records_prefers_the_current_protocol_over_a_later_old_one(tmp_path):
    from mabprune.study.plan import CURRENT_PROTOCOLS, PROTOCOL_VERSION

    run = dict(family="classification", dataset="d1", method="ucb1", kind="prune", seed=0, amount=0.5, status="ok")
    current = dict(run, key="d1|ucb1|0|new", metric_after=0.9, params={"protocol": PROTOCOL_VERSION})
    old = dict(run, key="d1|ucb1|0|old", metric_after=0.1, params={"protocol": min(CURRENT_PROTOCOLS) - 1})
    rerun = dict(current, key="d1|ucb1|0|new2", metric_after=0.8)  # the current protocol, rerun: latest wins
    (tmp_path / "classification.jsonl").write_text("".join(json.dumps(r) + "\n" for r in (current, old)))
    assert load_records(tmp_path)["key"].tolist() == ["d1|ucb1|0|new"]
    assert len(load_records(tmp_path, superseded=True)) == 2
    with open(tmp_path / "classification.jsonl", "a") as fh:
        fh.write(json.dumps(rerun) + "\n" + json.dumps(old) + "\n")
    assert load_records(tmp_path)["key"].tolist() == ["d1|ucb1|0|new2"]


KILLED_GRID = textwrap.dedent("""
    import sys
    from mabprune.study.runner import run_grid
    from mabprune.study.profiles import grid_spec
    run_grid(grid_spec("classification", "smoke", seeds=list(range(40))), results_dir=sys.argv[1], progress=False)
""")


def test_killed_grid_resumes_without_duplicates_or_recomputation(tmp_path):
    store = tmp_path / "store"
    path = store / "classification.jsonl"
    spec = grid_spec("classification", "smoke", seeds=list(range(40)))
    total = len(plan_runs(spec))
    proc = subprocess.Popen([sys.executable, "-c", KILLED_GRID, str(store)], start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if path.exists() and path.read_bytes().count(b"\n") >= 8:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the grid finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    # Simulate the worst moment as well: killed in the middle of writing a record.
    with open(path, "ab") as fh:
        fh.write(b'{"key": "sklearn:iris|ucb1|39|torn", "status": "o')
    before = {r["key"]: r for r in (json.loads(x) for x in path.read_text().splitlines()[:-1])}
    assert 8 <= len(before) < total
    df = run_grid(spec, results_dir=store, progress=False)
    assert df.attrs["loaded"] == len(before)
    assert df.attrs["computed"] == total - len(before)
    assert len(df) == total and (df["status"] == "ok").all()
    records = lines(path)  # every line parses
    keys = [r["key"] for r in records]
    assert len(keys) == len(set(keys)) == total
    for r in records:  # the records written before the kill were kept as they were
        if r["key"] in before:
            assert r["timestamp"] == before[r["key"]]["timestamp"]


def test_parallel_cells_give_the_same_records(tmp_path):
    spec = grid_spec("classification", "smoke", seeds=[0, 1], sweep_methods=[])
    one = run_grid(spec, results_dir=tmp_path / "one", progress=False)
    two = run_grid(spec, results_dir=tmp_path / "two", n_jobs=2, progress=False)
    assert two.attrs["computed"] == len(two) == 6
    cols = ["key", "metric_before", "metric_after", "params_after", "estimates"]
    pd.testing.assert_frame_equal(one[cols], two[cols])


# ----------------------------------------------------------------------------- tables

def _records():
    rows = []
    for ds, scores in {"d1": {"ucb1": 0.9, "magnitude": 0.8, "none": 0.85}, "d2": {"ucb1": 0.7, "magnitude": 0.75,
                                                                                   "none": 0.6}}.items():
        for method, s in scores.items():
            for seed in (0, 1):
                rows.append(dict(key=f"{ds}|{method}|{seed}", dataset=ds, method=method, kind="prune", seed=seed,
                                 amount=0.5, status="ok", metric_name="accuracy", metric_before=0.8,
                                 metric_after=s + 0.01 * seed, prune_time_s=0.1, train_time_s=1.0,
                                 pulls=100 if method == "ucb1" else 0, pulls_per_second=1000.0))
    rows.append(dict(rows[0], key="x", status="error: RuntimeError: boom", metric_after=0.0))
    for a in (0.25, 0.75):
        rows.append(dict(rows[0], key=f"s{a}", kind="sweep", amount=a, metric_after=1 - a))
    return pd.DataFrame(rows)


def test_tables():
    recs = _records()
    table = score_table(recs)
    assert list(table.columns) == ["ucb1", "magnitude", "none"]
    assert table.loc["d1", "ucb1"] == pytest.approx(0.905)  # mean over seeds, the error ignored
    assert mean_ranks(table).to_dict() == {"ucb1": 1.5, "magnitude": 2.0, "none": 2.5}
    sweep = sweep_table(recs)
    assert sweep["amount"].tolist() == [0.0, 0.25, 0.75] and sweep["mean"].tolist() == [0.8, 0.75, 0.25]
    cost = cost_table(recs)
    assert cost.loc["ucb1", "pulls"] == 100 and cost.loc["none", "runs"] == 4
    with pytest.raises(ValueError, match="several amounts"):
        score_table(recs, kind="sweep")
    assert score_table(recs, kind="sweep", amount=0.25).loc["d1", "ucb1"] == 0.75


def test_load_records_reads_a_store(tmp_path):
    run_grid(grid_spec("classification", "smoke", sweep_methods=[]), results_dir=tmp_path, progress=False)
    recs = load_records(tmp_path)
    assert len(recs) == 3 and set(recs["family"]) == {"classification"}
    assert load_records(tmp_path, family="regression").empty
    rec = recs.set_index("method").loc["ucb1"]
    assert rec["versions"]["torch"] and rec["status"] == "ok" and rec["device"] == "cpu"
    assert len(rec["estimates"]) == len(rec["counts"]) == sum(n for _, n in rec["arm_layers"])


def test_load_records_keeps_the_latest_of_each_run(tmp_path):
    run_grid(grid_spec("classification", "smoke", sweep_methods=[]), results_dir=tmp_path, progress=False)
    run_grid(grid_spec("classification", "smoke", sweep_methods=[], rounds=12), results_dir=tmp_path, progress=False)
    everything = load_records(tmp_path, superseded=True)
    latest = load_records(tmp_path)
    assert len(everything) == 4 and len(latest) == 3
    assert latest.set_index("method").loc["ucb1", "params"]["prune"]["rounds"] == 12


# ----------------------------------------------------------------------------- store cases (issue 8, section 6)

def _no_compute(monkeypatch):
    def refuse(job, emit):
        raise AssertionError("a cell was computed")

    monkeypatch.setattr(runner, "run_cell", refuse)


def test_n_jobs_on_a_complete_store(tmp_path, monkeypatch):
    spec = grid_spec("classification", "smoke", sweep_methods=[])
    run_grid(spec, results_dir=tmp_path, progress=False)
    _no_compute(monkeypatch)
    df = run_grid(spec, results_dir=tmp_path, n_jobs=2, progress=False)
    assert df.attrs["computed"] == 0 and df.attrs["loaded"] == len(df) == 3


def test_a_complete_read_only_store_is_read(tmp_path, monkeypatch):
    spec = grid_spec("classification", "smoke", sweep_methods=[])
    run_grid(spec, results_dir=tmp_path, progress=False)
    path = tmp_path / "classification.jsonl"
    path.chmod(0o444)
    # Root may write anyway: make "not writable" and "opened for append" observable.
    monkeypatch.setattr(runner.os, "access", lambda p, mode: not (mode & os.W_OK))
    monkeypatch.setattr(store, "locked", lambda p: (_ for _ in ()).throw(PermissionError(p)))
    _no_compute(monkeypatch)
    df = run_grid(spec, results_dir=tmp_path, progress=False)
    assert df.attrs["loaded"] == 3 and (df["status"] == "ok").all()
    assert missing_runs(spec, tmp_path) == []
    with pytest.raises(ValueError, match="is not a writable file"):  # but a run to compute is refused
        run_grid(grid_spec("classification", "smoke", sweep_methods=[], rounds=12), results_dir=tmp_path,
                 progress=False)


def test_an_unwritable_store_fails_before_any_compute(tmp_path, monkeypatch):
    _no_compute(monkeypatch)
    spec = grid_spec("classification", "smoke")
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ValueError, match="is a file"):
        run_grid(spec, results_dir=tmp_path / "a-file", progress=False)
    with pytest.raises(ValueError, match="is a file"):
        run_grid(spec, results_dir=tmp_path / "a-file" / "below", progress=False)
    monkeypatch.setattr(runner.os, "access", lambda p, mode: not (mode & os.W_OK))
    with pytest.raises(ValueError, match="is not writable"):
        run_grid(spec, results_dir=tmp_path / "store", progress=False)


@pytest.mark.parametrize("change, message", [
    (dict(seeds=(2**32,)), r"seed 4294967296 is out of range"),
    (dict(seeds=(-1,)), r"seed -1 is out of range"),
    (dict(device="mps"), r"device 'mps' is not supported"),
    (dict(device="meta"), r"device 'meta' is not supported"),
])
def test_seeds_and_devices_are_refused_before_any_compute(tmp_path, monkeypatch, change, message):
    from mabprune.study.profiles import with_overrides

    _no_compute(monkeypatch)
    with pytest.raises(ValueError, match=message):
        run_grid(with_overrides(grid_spec("classification", "smoke"), **change), results_dir=tmp_path,
                 progress=False)
    assert not (tmp_path / "classification.jsonl").exists()


def test_load_records_of_a_profile_reads_exactly_its_grid(tmp_path):
    run_grid(grid_spec("classification", "smoke", sweep_methods=[]), results_dir=tmp_path, progress=False)
    # The README's rerun example into the same folder: other amounts must not take over the analysis.
    run_grid(grid_spec("classification", "smoke", sweep_methods=[], amount=0.3), results_dir=tmp_path,
             progress=False)
    assert sorted(load_records(tmp_path)["amount"].unique()) == [0.3, 0.5]
    mine = load_records(tmp_path, profile="smoke")
    planned = {r["key"] for r in plan_runs(grid_spec("classification", "smoke"))}
    assert set(mine["key"]) <= planned and len(mine) == 3 and set(mine["amount"]) == {0.5}
    assert score_table(mine).shape == (1, 3)  # a single amount: no "pass amount=" error
    assert load_records(tmp_path, profile="quick").empty
