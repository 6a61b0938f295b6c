"""Compute the standard deep-learning grid and record how long it took (issue 17 §4-5).

Runs ``run_grid(grid_spec("deep_learning", "standard"), n_jobs=2)`` into
``results/standard/deep_learning.jsonl`` (resumable: a killed run loses only the runs in
progress, and a rerun computes only what is missing) with the trained-network cache in
``MABPRUNE_CACHE`` (empty for the measured run, so that training is included), and writes
``results/standard/deep_learning.run.json``: the commit (which must be clean), the machine, the
wall time, the load average sampled every 30 s, and how many runs were computed and loaded.

Run from the repository root with ``MABPRUNE_DATA`` pointing at the data mirror::

    MABPRUNE_CACHE=$(mktemp -d) python results/deep_grid.py
"""

import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

from mabprune.study.profiles import grid_spec
from mabprune.study.runner import run_grid

HERE = Path(__file__).resolve().parent
OUT = HERE / "standard" / "deep_learning.run.json"


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, cwd=HERE.parent, check=True).stdout.strip()


def main(n_jobs: int = 2) -> None:
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    if dirty and "--allow-dirty" not in sys.argv:
        sys.exit(f"the working tree has changes; commit them first (the records must come from a clean commit):\n{dirty}")
    spec = grid_spec("deep_learning", "standard", n_jobs=n_jobs)
    load, stop = [], threading.Event()

    def sample():
        while not stop.wait(30):
            load.append([round(time.time()), *os.getloadavg()])

    threading.Thread(target=sample, daemon=True).start()
    start = time.time()
    df = run_grid(spec, progress=False)
    wall = time.time() - start
    stop.set()
    runs = {"computed": int(df.attrs.get("computed", 0)), "loaded": int(df.attrs.get("loaded", 0)),
            "ok": int((df["status"] == "ok").sum()), "total": len(df)}
    previous = json.loads(OUT.read_text()) if OUT.exists() else {"sessions": []}
    previous["sessions"].append({
        "commit": _git("rev-parse", "HEAD"), "started_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(start)),
        "wall_s": wall, "n_jobs": n_jobs, "cpus": os.cpu_count(), "machine": platform.node(),
        "processor": platform.processor() or platform.machine(), "cache": os.environ.get("MABPRUNE_CACHE"),
        "loadavg_samples": load, "runs": runs})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(previous, indent=1) + "\n")
    print(f"{runs} in {wall / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
