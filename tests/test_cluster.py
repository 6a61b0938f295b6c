"""Grids on Dask (``run_grid(..., cluster=...)``): the same records as on one process, one
writer, a killed worker's cell recomputed elsewhere, and the named error without the extra."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from mabprune.study import cluster as dask_cluster
from mabprune.study.runner import run_grid
from mabprune.study.plan import plan_runs
from mabprune.study.profiles import grid_spec

# Timings and the machine differ between runs; every other field must be identical.
VOLATILE = {"prune_time_s", "pull_time_s", "train_time_s", "wall_time_s", "pulls_per_second", "timestamp", "host"}


def smoke():  # one dataset (iris), two seeds: two cells of five runs
    return grid_spec("classification", "smoke", seeds=[0, 1])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The smoke grid computed inline (``n_jobs=1``): the records a cluster must reproduce."""
    store = tmp_path_factory.mktemp("ref")
    df = run_grid(smoke(), results_dir=store, n_jobs=1, progress=False)
    assert df.attrs["errors"] == 0
    return {r["key"]: r for r in stored(store / "classification.jsonl")}


def stored(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]  # every line parses


def assert_same_records(records: list[dict], reference: dict) -> None:
    assert sorted(r["key"] for r in records) == sorted(reference)
    for r in records:
        ref = reference[r["key"]]
        fields = (set(r) | set(ref)) - VOLATILE
        diff = {f: (r.get(f), ref.get(f)) for f in fields if json.dumps(r.get(f), default=str)
                != json.dumps(ref.get(f), default=str)}
        assert not diff, f"{r['key']}: {diff}"


@pytest.fixture(scope="module")
def local_cluster():
    distributed = pytest.importorskip("distributed")
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers need not import tests/
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=50) as cl, distributed.Client(cl) as client:
        yield cl, client


def test_local_cluster_gives_the_records_of_one_process(tmp_path, reference):
    df = run_grid(smoke(), results_dir=tmp_path, cluster="local:2", progress=False)
    assert df.attrs["computed"] == len(df) == len(reference) and df.attrs["errors"] == 0
    records = stored(tmp_path / "classification.jsonl")
    assert_same_records(records, reference)
    assert all(r["host"] for r in records)
    again = run_grid(smoke(), results_dir=tmp_path, cluster="local:2", progress=False)
    assert again.attrs["computed"] == 0 and again.attrs["loaded"] == len(reference)  # cache keys unchanged


def _slow_first_cell(marker: str) -> None:
    """On a worker: the first cell to start computes its records, writes the worker's pid to
    ``marker`` and then hangs before returning them (until the test kills the process)."""
    from mabprune.study import cluster

    original = cluster.run_cell

    def run_cell(job, emit):
        original(job, emit)  # the records exist in this worker, not yet in the store
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        time.sleep(120)

    cluster.run_cell = run_cell   # the name the worker's cell task calls


def _failing_seed(seed: int | None) -> None:
    from mabprune.study import cluster

    original = getattr(cluster, "_original_run_cell", cluster.run_cell)
    cluster._original_run_cell = original

    def run_cell(job, emit):
        if job["seed"] == seed:
            raise RuntimeError(f"planted failure of seed {seed}")
        original(job, emit)

    cluster.run_cell = original if seed is None else run_cell


def test_a_killed_worker_cell_is_recomputed_elsewhere(tmp_path, reference, local_cluster):
    cl, client = local_cluster
    marker = tmp_path / "hung-worker.pid"
    client.run(_slow_first_cell, str(marker))
    killed = []

    def kill_when_hung():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not marker.exists():
            time.sleep(0.05)
        time.sleep(0.2)  # the pid is written
        if marker.exists():
            pid = int(marker.read_text())
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    killer = threading.Thread(target=kill_when_hung, daemon=True)
    killer.start()
    df = run_grid(smoke(), results_dir=tmp_path / "store", cluster=cl.scheduler_address, progress=False)
    killer.join(timeout=5)
    assert killed, "no worker hung in the middle of a cell"
    assert df.attrs["errors"] == 0 and df.attrs["computed"] == len(reference)
    records = stored(tmp_path / "store" / "classification.jsonl")
    keys = [r["key"] for r in records]
    assert len(keys) == len(set(keys)) == len(plan_runs(smoke()))  # no duplicate, no torn line
    assert_same_records(records, reference)


def test_a_failing_cell_is_recorded_as_errors_and_the_grid_goes_on(tmp_path, local_cluster):
    cl, client = local_cluster
    client.wait_for_workers(2, timeout=60)
    client.run(_failing_seed, 1)
    try:
        df = run_grid(smoke(), results_dir=tmp_path, cluster=cl.scheduler_address, retries=1, progress=False)
    finally:
        client.run(_failing_seed, None)
    failed = df[df["status"] != "ok"]
    assert set(failed["seed"]) == {1} and len(failed) == 5 and (df[df["seed"] == 0]["status"] == "ok").all()
    assert failed["status"].str.contains("planted failure of seed 1").all()
    again = run_grid(smoke(), results_dir=tmp_path, cluster=cl.scheduler_address, progress=False)
    assert again.attrs["computed"] == 5 and again.attrs["errors"] == 0  # errors are not cached


def test_cluster_without_the_extra_names_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(ImportError, match=r"pip install 'mabprune\[cluster\]'"):
        run_grid(smoke(), results_dir=tmp_path / "store", cluster="local:2", progress=False)
    assert not (tmp_path / "store").exists()  # refused before anything was read or computed


@pytest.mark.parametrize("address, message", [
    ("local:0", "at least one worker"), ("local", "unknown cluster address 'local'"),
    ("host:8786", "unknown cluster address"), (4, "cluster must be None"),
])
def test_bad_cluster_addresses(address, message):
    with pytest.raises(ValueError, match=message):
        dask_cluster.check_address(address)


@pytest.mark.slow
def test_the_notebook_parameter_runs_its_grid_on_a_local_cluster(tmp_path, reference):
    import papermill as pm

    source = Path(__file__).resolve().parents[1] / "notebooks" / "tabular_classification.ipynb"
    pm.execute_notebook(str(source), str(tmp_path / "out.ipynb"), kernel_name="python3", cwd=str(source.parent),
                        parameters={"profile": "smoke", "seeds": [0, 1], "results_dir": str(tmp_path / "store"),
                                    "cluster": "local:2"}, progress_bar=False)
    assert_same_records(stored(tmp_path / "store" / "classification.jsonl"), reference)
