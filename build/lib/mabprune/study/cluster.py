"""Run the (dataset, seed) cells of a grid on a Dask cluster (the optional ``cluster`` extra).

:func:`mabprune.study.runner.run_grid` calls :func:`execute` when it is given ``cluster=``:

``"local:N"``
    a :class:`distributed.LocalCluster` on this machine with ``N`` single-threaded worker
    processes (one GPU each with ``device="cuda"``);
``"tcp://host:8786"`` (or ``tls://``, ``ucx://``)
    the scheduler of a running cluster: ``dask-scheduler`` with ``dask-worker``\\ s, a
    ``dask_jobqueue.SLURMCluster``, ``dask_cuda.LocalCUDACluster`` or a cloud cluster.

Design
------
The cells are submitted as :mod:`distributed` **futures** and collected with
:func:`distributed.as_completed`, not through joblib's Dask backend
(``joblib.parallel_config(backend="dask")``), because the runner needs four things that
only the futures API gives it: results in the order they *finish* (so records reach the
store, and the progress bar moves, as cells end rather than in submission order); a per-task
outcome (a cell whose task fails becomes error records while the others go on, where a
joblib batch would raise and drop the rest); ``retries=`` per task; and ``resources=``
(``{"GPU": 1}``) so that a CUDA cell only lands on a worker that owns a GPU.

**One writer.** A worker computes a whole cell (one trained network, then every method of
the cell) and *returns* its records; only the driver process appends them to the store, as
on the local path, so the store's crash safety and the cache keys are unchanged. A cell's
records travel together: a worker that dies in the middle of a cell has written nothing, so
the scheduler reschedules the cell on another worker and the store never holds a duplicate
or a torn record of it. ``retries`` bounds both how often a cell whose task raised is
resubmitted and, for the ``local:N`` cluster this module starts, how many workers may die
running it (``distributed.scheduler.allowed-failures``); a cell that still fails is recorded
as an error for each of its runs (errors are not cached: the next call retries them) and the
grid goes on. For a remote scheduler, ``allowed-failures`` is the scheduler's own setting.

**Data.** Workers read datasets from their own data root: ``MABPRUNE_DATA`` in the workers'
environment (or the grid's ``data_root``), which must therefore be a shared filesystem (or
a copy at the same path) on every machine of the cluster. Nothing is downloaded unless
``MABPRUNE_DOWNLOAD=1`` is set on the workers.

**GPUs.** With ``device="cuda"`` every cell asks for the worker resource ``GPU=1``. The
``local:N`` cluster gives each of its ``N`` workers that resource and pins worker ``i`` to
GPU ``i mod (number of GPUs)`` through ``CUDA_VISIBLE_DEVICES`` before PyTorch initialises
CUDA in it. On a machine with several GPUs, ``dask_cuda.LocalCUDACluster()`` (package
``dask-cuda``) starts one worker per GPU with ``CUDA_VISIBLE_DEVICES`` already set; start
it with ``resources={"GPU": 1}`` and pass its ``scheduler_address``. On a batch cluster,
start each worker with ``--resources GPU=1`` on a node (or slot) with one visible GPU.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
from typing import Callable, Iterator

from mabprune.study.cells import run_cell

__all__ = ["EXTRA_HINT", "check_address", "execute"]

#: Named by the error raised when ``cluster=`` is used without Dask installed.
EXTRA_HINT = "pip install 'mabprune[cluster]'"
_LOCAL = re.compile(r"local:(\d+)")
_REMOTE = re.compile(r"(tcp|tls|ucx|inproc)://\S+")


def check_address(address) -> str | None:
    """Validate a ``cluster=`` value: ``None``, ``"local:N"`` (N >= 1) or a scheduler address.

    Examples
    --------
    >>> check_address("local:2"), check_address("tcp://10.0.0.5:8786"), check_address(None)
    ('local:2', 'tcp://10.0.0.5:8786', None)
    >>> check_address("local:0")
    Traceback (most recent call last):
    ...
    ValueError: cluster 'local:0' needs at least one worker: write 'local:1' or more
    """
    if address is None:
        return None
    if not isinstance(address, str):
        raise ValueError(f"cluster must be None, 'local:N' or a scheduler address such as 'tcp://host:8786', "
                         f"got {address!r}")
    address = address.strip()
    if m := _LOCAL.fullmatch(address):
        if int(m.group(1)) < 1:
            raise ValueError(f"cluster {address!r} needs at least one worker: write 'local:1' or more")
        return address
    if _REMOTE.fullmatch(address):
        return address
    raise ValueError(f"unknown cluster address {address!r}: use 'local:N' (N worker processes on this machine) "
                     f"or a scheduler address such as 'tcp://host:8786'")


def _distributed():
    """The :mod:`distributed` module, or an ImportError that names the extra to install."""
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(f"cluster= needs Dask's distributed scheduler, which is the optional 'cluster' extra of "
                          f"mabprune: {EXTRA_HINT} (it installs dask and distributed); leave cluster=None to run "
                          f"on this machine with n_jobs") from exc
    return distributed


def _pin_gpu(n_gpus: int):
    """A worker plugin that sets ``CUDA_VISIBLE_DEVICES`` from the worker's index (local:N)."""
    distributed = _distributed()

    class PinGPU(distributed.WorkerPlugin):
        def setup(self, worker):  # before any task: PyTorch reads the variable when CUDA starts
            index = int(worker.name) if str(worker.name).isdigit() else abs(hash(worker.name))
            os.environ["CUDA_VISIBLE_DEVICES"] = str(index % n_gpus)

    return PinGPU()


@contextlib.contextmanager
def client_for(address: str, *, gpu: bool, retries: int) -> Iterator:
    """A :class:`distributed.Client` for ``address``; a ``local:N`` cluster lives as long as it."""
    distributed = _distributed()
    import dask

    m = _LOCAL.fullmatch(address)
    if m is None:
        with distributed.Client(address) as client:
            yield client
        return
    n = int(m.group(1))
    with dask.config.set({"distributed.scheduler.allowed-failures": retries}), contextlib.ExitStack() as stack:
        cluster = stack.enter_context(distributed.LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
            resources={"GPU": 1} if gpu else None, silence_logs=40))
        client = stack.enter_context(distributed.Client(cluster))
        if gpu:
            import torch

            client.register_plugin(_pin_gpu(max(torch.cuda.device_count(), 1)))
        yield client


def _cell_records(job: dict) -> list[dict]:
    """Compute one cell on a worker and return its records (the worker writes nothing)."""
    records: list[dict] = []
    run_cell(job, records.append)
    host = socket.gethostname()
    for r in records:
        r["host"] = host
    return records


def execute(jobs: list[dict], address: str, emit: Callable[[dict], None], *, retries: int = 2,
            error: Callable[[dict, BaseException], dict]) -> None:
    """Run ``jobs`` (cells of :func:`mabprune.study.runner.run_grid`) on the cluster at ``address``.

    Parameters
    ----------
    jobs : list of dict
        One per (dataset, seed) cell, with its ``runs``.
    address : str
        ``"local:N"`` or a scheduler address (see :func:`check_address`).
    emit : callable
        Called in this process with each record, as its cell finishes (the store writer).
    retries : int, default=2
        Resubmissions of a cell whose task raised, and (``local:N``) workers that may die
        running one, before its runs are recorded as errors.
    error : callable
        ``error(run, exc) -> record``: the error record of one run of a failed cell.
    """
    if not jobs:
        return
    distributed = _distributed()
    gpu = any(j["device"] == "cuda" for j in jobs)
    with client_for(address, gpu=gpu, retries=retries) as client:
        futures = {}
        for job in jobs:
            fut = client.submit(_cell_records, job, retries=retries, pure=False,
                                resources={"GPU": 1} if job["device"] == "cuda" else None,
                                key=f"mabprune-cell-{job['dataset']}-{job['seed']}-{os.urandom(4).hex()}")
            futures[fut] = job
        for fut in distributed.as_completed(futures):
            job = futures.pop(fut)
            try:
                records = fut.result()
            except Exception as exc:  # noqa: BLE001 - a lost or failing cell: recorded, the grid goes on
                records = [error(run, exc) for run in job["runs"]]
            fut.release()
            for record in records:
                emit(record)
