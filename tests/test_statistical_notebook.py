"""notebooks/statistical_analysis.ipynb, executed by papermill on a synthetic results store.

The store mimics what the experiment notebooks write (one JSONL file per family, one record
per run, errors and sweeps included); UCB1 is made the best method of tabular
classification, so the scoreboard must say that C2 holds.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import numpy as np
import pytest

from mabprune.analysis.claims import VERDICTS
from mabprune.analysis.stats import BASELINES, FAMILIES, MAB_POLICIES, REGRESSORS

pm = pytest.importorskip("papermill")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "statistical_analysis.ipynb"
GLUE_PREFIX = "application/papermill.record/"  # myst_nb.ext.glue: glue(..., display=False)
# Best first in every family but deep learning, where Thompson sampling leads.
QUALITY = ["ucb1", "thompson", "hedge", "softmax", "exp3", "epsilon_greedy", "none", "taylor",
           "activation_variation", "magnitude", "random"]
assert sorted(QUALITY) == sorted(MAB_POLICIES + BASELINES)


def _record(family: str, dataset: str, method: str, kind: str, seed: int, amount, *,
            metric_name: str, after: float | None, before: float | None = 0.8,
            train: float = 2.0, status: str = "ok") -> dict:
    policy = method in MAB_POLICIES
    params = {"protocol": 1, "dataset": dataset, "seed": seed, "kind": kind, "method": method,
              "amount": amount, "model": {"arch": "mlp", "hidden": [32, 32]},
              "prune": {"rounds": 60, "arms_per_round": 16}, "fine_tune": {"epochs": 3}}
    regressor = kind == "regressor"
    return {
        "key": f"{dataset}|{method}|{seed}|{kind}-{amount}", "dataset": dataset,
        "method": method, "kind": kind, "seed": seed, "amount": amount, "params": params,
        "params_hash": "0123abcd", "device": "cpu", "metric_name": metric_name,
        "status": status, "metric_before": None if regressor else before,
        "metric_after": after if status == "ok" else None,
        "params_before": None if regressor else 2000, "params_after": None if regressor else 1100,
        "macs_before": None if regressor else 1900, "macs_after": None if regressor else 1000,
        "pulls": 960 if policy else 0, "prune_time_s": None if regressor else
        (3.0 if policy else 0.2), "train_time_s": 0.01 if regressor else train,
        "wall_time_s": 3.1, "profile": "test", "family": family,
        "git_commit": "0123456789abcdef0123", "versions": {"python": "3.12"},
        "timestamp": "2026-06-01T00:00:00+00:00"}


def _family_records(family: str, n_datasets: int, seed: int, *, order=QUALITY,
                    metric_name: str = "accuracy", regressors=()) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(n_datasets):
        dataset, base = f"{family[:3]}_{d}", rng.uniform(0.5, 0.8)
        for s in range(2):
            train = float(rng.uniform(1.0, 3.0))  # one trained network per (dataset, seed)
            for q, method in enumerate(order):  # 0.01 apart, noise 0.002: ranks follow order
                score = base - 0.01 * q + rng.normal(0, 0.002)
                rows.append(_record(family, dataset, method, "prune", s, 0.5, after=score,
                                    metric_name=metric_name, train=train))
            for q, method in enumerate(regressors):  # between the 6th and 7th network
                score = base - 0.01 * (6.5 + q) + rng.normal(0, 0.002)
                rows.append(_record(family, dataset, method, "regressor", s, None,
                                    after=score, metric_name=metric_name))
            if d == 0:  # a sweep at other fractions: not part of the comparison
                rows += [_record(family, dataset, m, "sweep", s, a, after=0.1,
                                 metric_name=metric_name, train=train)
                         for m in ("ucb1", "magnitude") for a in (0.25, 0.75)]
    rows.append(_record(family, "broken", "ucb1", "prune", 0, 0.5, after=None,
                        metric_name=metric_name, status="error: RuntimeError: boom"))
    return rows


def _write_store(folder: Path) -> int:
    deep_order = ["thompson", *[m for m in QUALITY if m != "thompson"]]
    families = {
        "classification": _family_records("classification", 6, 1),
        # A claim-family name in the records, as the documented schema allows.
        "regression": _family_records("tabular_regression", 5, 2, metric_name="r2",
                                      regressors=REGRESSORS),
        "deep_learning": _family_records("deep_learning", 4, 3, order=deep_order),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in families.items():
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return sum(len(rows) for rows in families.values())


def _execute(tmp: Path, **parameters) -> dict:
    out = tmp / "executed.ipynb"
    pm.execute_notebook(str(NOTEBOOK), str(out), parameters=parameters, kernel_name="python3",
                        cwd=str(NOTEBOOK.parent), progress_bar=False)
    return json.loads(out.read_text())


def _glued(nb: dict) -> list[tuple[str, str]]:
    """(key, text/plain value) of every glue output, in order."""
    found = []
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            scrap = output.get("metadata", {}).get("scrapbook")
            if scrap:
                data = output["data"]
                text = data.get(scrap.get("mime_prefix", "") + "text/plain")
                found.append((scrap["name"], text))
    return found


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stats_nb")
    n_records = _write_store(tmp / "results")
    nb = _execute(tmp, results_dir=str(tmp / "results"), profile="test")
    return nb, n_records


def test_glue_keys(executed):
    nb, n_records = executed
    glued = _glued(nb)
    keys = [k for k, _ in glued]
    assert len(keys) == len(set(keys)), "a glue key twice breaks the book build"
    required = {"stats_profile", "stats_n_records", "stats_claims_hold", "stats_claims_fail",
                "stats_claims_nodata", "stats_claims_undecided", "stats_commit"}
    required |= {f"stats_{f}_{name}" for f in FAMILIES for name in ("friedman_p", "best")}
    assert required <= set(keys), sorted(required - set(keys))
    for key, value in glued:  # glued with display=False: under myst-nb's prefix
        assert value is not None, key
    values = {k: ast.literal_eval(v) for k, v in glued if k not in ("stats_board", "stats_board_here")}
    assert values["stats_profile"] == "test"
    assert values["stats_profile_mix"] == ("Every family comes from the same profile (tabular classification: "
                                           "test; tabular regression: test; deep learning: test).")
    assert values["stats_deep_learning_profile_note"].startswith("test: read from the folder passed as results_dir")
    assert values["stats_n_records"] == str(n_records)
    assert values["stats_n_errors"] == "3"
    assert values["stats_commit"] == "0123456789"
    assert values["stats_amount"] == "0.5"
    assert values["stats_tabular_classification_best"] == "ucb1"
    assert values["stats_deep_learning_best"] == "thompson"
    assert values["stats_tabular_regression_n_methods"] == str(11 + len(REGRESSORS))
    assert re.fullmatch(r"< 0\.001|0\.\d{3}", values["stats_tabular_classification_friedman_p"])
    counts = [int(values[f"stats_claims_{v}"]) for v in ("hold", "fail", "undecided", "nodata")]
    assert sum(counts) == int(values["stats_claims_total"]) == 10
    assert values["stats_verdict_C2"] == "holds"
    assert values["stats_verdict_C10"] == "holds"  # 3 s of pruning against 1-3 s of training
    assert values["stats_claims_random"] == "0" and values["stats_threshold"] == "0.9"
    # Seed offsets of noise 0.002 within a dataset, levels 0.01 apart: the policies' range
    # (5 levels) is 0.05, all 11 networks span 0.10.
    assert 0.0005 < float(values["stats_tabular_classification_noise_median_std"]) < 0.005
    assert float(values["stats_tabular_classification_policy_range"]) == pytest.approx(0.05, abs=0.005)
    assert float(values["stats_deep_learning_method_range"]) == pytest.approx(0.10, abs=0.005)
    assert values["stats_no_ft_metric"] == "none" and values["stats_no_ft_claims_hold"] == "n/a"
    assert all(values[f"stats_verdict_C{i}"] in VERDICTS for i in range(1, 11))
    # Every key the notebook's own prose quotes exists: a missing one fails the book build.
    quoted = {k for cell in nb["cells"] if cell["cell_type"] == "markdown"
              for k in re.findall(r"\{glue:text\}`([^`:]+)`", "".join(cell["source"]))}
    assert quoted and quoted <= set(keys), sorted(quoted - set(keys))


def test_scoreboard_table(executed):
    nb, _ = executed
    cells = [c for c in nb["cells"] if "scoreboard" in c["metadata"].get("tags", [])]
    assert len(cells) == 1
    html = [o["data"]["text/html"] for o in cells[0]["outputs"]
            if o.get("output_type") == "display_data" and "text/html" in o.get("data", {})]
    assert len(html) == 1
    evidence = "".join(html[0])  # one expandable row per claim, with its rule, evidence and control
    rows = re.findall(r'<details id="claim-c(\d+)"><summary><strong>(C\d+)</strong>', evidence)
    assert [claim for _, claim in rows] == [f"C{i}" for i in range(1, 11)]
    verdicts = dict(re.findall(r'<strong>(C\d+)</strong>[^<]*<span class="mabprune-verdict"[^>]*>([^<]+)</span>',
                               evidence))
    assert len(verdicts) == 10
    assert verdicts["C2"] == "holds"
    assert all(v in VERDICTS or v.startswith("cannot decide at N = ") for v in verdicts.values())
    assert "background-color: #c8e6c9" in evidence  # the verdict is coloured
    for field in ("rule", "evidence", "random control", "evidence level"):
        assert evidence.count(f"<dt>{field}</dt>") == 10, field
    # Random pruning is the worst method of the store: every control that runs fails.
    controls = re.findall(r"<dt>random control</dt><dd>([a-z]+):", evidence)
    assert controls and "passes" not in controls
    # The compact board is glued twice: for the landing page (links into this page) and for this page.
    boards = {}
    for c in nb["cells"]:
        for o in c.get("outputs", []):
            scrap = o.get("metadata", {}).get("scrapbook") or {}
            if scrap.get("name") in ("stats_board", "stats_board_here"):
                boards[scrap["name"]] = "".join(o["data"][scrap.get("mime_prefix", "") + "text/html"])
    assert set(boards) == {"stats_board", "stats_board_here"}
    assert boards["stats_board"].count('href="executed/statistical_analysis.html#claim-c') == 10
    assert boards["stats_board_here"].count('href="#claim-c') == 10
    assert re.findall(r"<th>([a-z ]+)</th>", boards["stats_board"]) == ["claim", "family", "verdict", "evidence level"]
    assert "test" in boards["stats_board"]  # the evidence level: the profile of these records


def test_every_family_is_analysed(executed):
    nb, _ = executed
    outputs = json.dumps([c.get("outputs", []) for c in nb["cells"]], ensure_ascii=False)
    assert "*These records hold no score without fine-tuning*" in outputs
    text = json.dumps(nb["cells"], ensure_ascii=False)
    assert "ucb1 against each other method" in text and "P(equivalent)" in text
    images = [o for c in nb["cells"] for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    # a CD diagram each, and a p-value heat map, or for more than 12 methods the p-value matrix collapsed
    # and as CSV (a 19 x 19 heat map cannot be read at the column's width)
    matrices = outputs.count('download=\\"nemenyi_')
    assert len(images) + matrices >= 2 * len(FAMILIES), (len(images), matrices)
    assert matrices >= 1  # the regression family ranks 11 network methods with the regressors
    text = json.dumps(nb["cells"], ensure_ascii=False)
    assert "Iman–Davenport F" in text and "Wilcoxon–Holm" in text
    assert "error" not in {o.get("output_type") for c in nb["cells"] for o in c.get("outputs", [])}


def test_single_dataset_and_missing_families(tmp_path):
    # One classification dataset, no regression or deep-learning records: said plainly, the
    # tests skipped, every key still glued, and the claims about those families undecided.
    store = tmp_path / "results"
    store.mkdir()
    rows = [r for r in _family_records("classification", 2, 5) if r["dataset"] != "cla_1"]
    (store / "classification.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    nb = _execute(tmp_path, results_dir=str(store), alpha=0.1)
    values = {k: ast.literal_eval(v) for k, v in _glued(nb) if k not in ("stats_board", "stats_board_here")}
    assert values["stats_tabular_classification_n_datasets"] == "1"
    for family in FAMILIES:
        assert values[f"stats_{family}_friedman_p"] == values[f"stats_{family}_best"] == "n/a"
    assert values["stats_claims_nodata"] == "9"
    assert values["stats_verdict_C10"] == "holds"  # costs need no comparison
    assert values["stats_alpha"] == "0.1"
    text = json.dumps(nb["cells"], ensure_ascii=False)
    assert "**Only 1 dataset(s) with a score for every method" in text
    assert "**No deep learning records**" in text


def test_both_metrics_when_the_records_hold_a_score_without_fine_tuning(tmp_path):
    store = tmp_path / "results"
    store.mkdir()
    rows = _family_records("classification", 3, 6)
    for r in rows:  # before fine-tuning the networks are worse and noisier
        r["score_no_ft"] = None if r["metric_after"] is None else r["metric_after"] - 0.2
    (store / "classification.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    nb = _execute(tmp_path, results_dir=str(store), n_boot=200)
    values = {k: ast.literal_eval(v) for k, v in _glued(nb) if k not in ("stats_board", "stats_board_here")}
    assert values["stats_no_ft_metric"] == "score_no_ft"
    outputs = json.dumps([c.get("outputs", []) for c in nb["cells"]], ensure_ascii=False)
    assert "hold no score without fine-tuning" not in outputs
    noise_html = [o["data"]["text/html"] for c in nb["cells"] for o in c.get("outputs", [])
                  if "text/html" in o.get("data", {}) and "noise_median_std" in
                  "".join(o["data"]["text/html"])]
    assert len(noise_html) == 1
    table = "".join(noise_html[0])
    assert "metric_after" in table and "score_no_ft" in table
    # The verdicts on both metrics, side by side; C2 holds on both (the offset keeps ranks).
    assert "verdict on score_no_ft" in outputs and "verdict on metric_after" in outputs
    assert values["stats_no_ft_claims_hold"] != "n/a"


def test_bad_alpha_fails_fast(tmp_path):
    with pytest.raises(pm.PapermillExecutionError) as info:
        _execute(tmp_path, results_dir=str(tmp_path), alpha=1.5)
    assert info.value.ename == "ValueError"
    assert "alpha must be a number in (0, 1); got 1.5" in info.value.evalue


def _planned_records(family: str, profile: str, seed: int) -> list[dict]:
    """A record for every run that ``profile``'s grid of ``family`` plans, under its real key;
    UCB1 first in the order of QUALITY, regressors and classifiers below the sixth network."""
    from mabprune.study.plan import plan_runs
    from mabprune.study.profiles import grid_spec

    rng = np.random.default_rng(seed)
    base = {}
    rows = []
    for run in plan_runs(grid_spec(family, profile)):
        b = base.setdefault(run["dataset"], rng.uniform(0.5, 0.8))
        q = QUALITY.index(run["method"]) if run["method"] in QUALITY else 6.5
        r = _record(family, run["dataset"], run["method"], run["kind"], run["seed"], run["amount"],
                    metric_name="r2" if family == "regression" else "accuracy",
                    after=b - 0.01 * q + rng.normal(0, 0.002))
        r.update(key=run["key"], params_hash=run["params_hash"], profile=profile)
        rows.append(r)
    return rows


def test_families_of_different_profiles(tmp_path):
    # Classification at quick, the other families at smoke, in one folder that also holds
    # records of other keys (which the profiles' grids do not plan, so they are left out).
    store = tmp_path / "results"
    store.mkdir()
    chosen = {"classification": "quick", "regression": "smoke", "deep_learning": "smoke"}
    n = 0
    for family, profile in chosen.items():
        rows = _planned_records(family, profile, seed=len(family))
        n += len(rows)
        extra = _family_records(family, 2, 9)  # synthetic keys: not in any grid
        (store / f"{family}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows + extra))
    nb = _execute(tmp_path, results_dir=str(store), profiles=chosen, n_boot=200)
    values = {k: ast.literal_eval(v) for k, v in _glued(nb) if k not in ("stats_board", "stats_board_here")}
    assert values["stats_n_records"] == str(n)
    assert values["stats_profile"] == "quick, smoke"
    assert values["stats_profile_mix"].startswith(
        "The families come from different profiles (tabular classification: quick; tabular regression: "
        "smoke; deep learning: smoke)")
    assert "C1" in values["stats_profile_mix"] and "C10" in values["stats_profile_mix"]
    assert values["stats_tabular_classification_profile_note"].startswith("quick: read from the folder")
    assert values["stats_tabular_classification_profile_note"].endswith("the runs of the quick grid")
    assert values["stats_tabular_classification_n_datasets"] == "4"  # the quick grid's datasets
    assert values["stats_deep_learning_n_datasets"] == "2"
    assert values["stats_verdict_C2"] in VERDICTS[:2]  # UCB1 leads the quick classification records
    text = json.dumps(nb["cells"], ensure_ascii=False)
    assert "stats_profile_mix" in text and "why" in text
    # Every family found the runs of its own profile's grid in the shared folder.
    assert "no records of this family" not in values.values()


def test_a_bad_profiles_value_fails_fast(tmp_path):
    with pytest.raises(pm.PapermillExecutionError) as info:
        _execute(tmp_path, results_dir=str(tmp_path), profiles={"regression": "medium"})
    assert info.value.ename == "ValueError"
    assert "unknown profile 'medium' for regression" in info.value.evalue
