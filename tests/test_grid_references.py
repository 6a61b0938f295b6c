"""Issues 18 §6 and 21 §6 in the grids: the committed grids keep their keys (protocol 4, the old
baseline definitions), the standard and full deep-learning grids run the references ``uniform``
and ``exact`` and the baselines' reference definitions (protocol 5), and the analysis shows the
references without counting them in any rule."""

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mabprune.analysis import claims, stats, verdict
from mabprune.baselines import DEFINITION_SETS
from mabprune.pruning import METHODS, REFERENCES
from mabprune.study import grid_spec, missing_runs, plan_runs, run_grid
from mabprune.study.plan import PROTOCOL_VERSION
from mabprune.study.tables import cost_table, score_table

REPO = Path(__file__).resolve().parents[1]
ROOT = os.environ.get("MABPRUNE_DATA") or None


@pytest.mark.parametrize("family", ["classification", "regression"])
def test_the_committed_standard_grids_keep_their_keys(family):
    path = REPO / "results" / "standard" / f"{family}.jsonl"
    if not path.exists():
        pytest.skip(f"no committed standard records of {family}")
    spec = grid_spec(family, "standard", data_root=ROOT)
    assert spec.baseline_definitions == "protocol4" and not set(REFERENCES) & set(spec.methods)
    runs = plan_runs(spec)
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    committed = {r["key"] for r in records if r.get("status") == "ok"}
    assert {r["key"] for r in runs} <= committed
    assert missing_runs(spec, path.parent) == []
    assert all(r["params"]["protocol"] == 4 and "definition" not in r["params"].get("prune", {}) for r in runs)


def test_the_committed_verdict_grids_keep_their_keys():
    for profile in ("quick", "standard"):
        for store in sorted((REPO / "results" / profile / "verdict").glob("*.jsonl")):
            assert verdict.missing_matrix_runs(store.stem, profile, results_dir=store.parent) == [], (profile, store)


@pytest.mark.parametrize("profile", ["standard", "full"])
def test_the_deep_grids_run_the_references_and_the_reference_definitions(profile):
    spec = grid_spec("deep_learning", profile, datasets=["sklearn:digits"])
    assert spec.methods == METHODS + REFERENCES and spec.baseline_definitions == "reference"
    runs = {r["method"]: r["params"] for r in plan_runs(spec) if r["kind"] == "prune"}
    assert {p["protocol"] for p in runs.values()} == {PROTOCOL_VERSION} != {4}
    for method, definition in DEFINITION_SETS["reference"].items():
        assert runs[method]["prune"]["definition"] == definition
    # uniform allocation gets the policies' budget; exact has none to get (its cost is its sweep)
    assert runs["uniform"]["prune"] == runs["ucb1"]["prune"]
    assert "rounds" not in runs["exact"]["prune"] and runs["exact"]["prune"] == runs["random"]["prune"]
    # the other families and profiles keep their lists
    for family, prof, ds in (("classification", profile, "sklearn:iris"), ("regression", profile, "make:friedman1"),
                             ("deep_learning", "quick", "sklearn:digits")):
        other = grid_spec(family, prof, datasets=[ds])   # a dataset given: nothing is resolved or downloaded
        assert other.methods == METHODS and other.baseline_definitions == "protocol4", (family, prof)


def test_a_bad_definition_set_is_named():
    with pytest.raises(ValueError, match="unknown baseline_definitions 'molchanov'"):
        grid_spec("classification", "smoke", baseline_definitions="molchanov")


@pytest.fixture(scope="module")
def deep_smoke(tmp_path_factory):
    spec = grid_spec("deep_learning", "smoke", methods=["ucb1", "thompson", "magnitude", "activation_variation",
                                                         "taylor", "random", "none", "uniform", "exact"],
                     sweep_methods=[], seeds=[0], baseline_definitions="reference")
    return spec, run_grid(spec, results_dir=tmp_path_factory.mktemp("deep"), progress=False)


def test_a_smoke_deep_grid_runs_uniform_and_exact_with_their_costs(deep_smoke):
    spec, records = deep_smoke
    assert (records["status"] == "ok").all(), records.loc[records["status"] != "ok", "status"].tolist()
    table = score_table(records)
    assert list(table.columns) == ["ucb1", "thompson", "magnitude", "activation_variation", "taylor", "random",
                                   "none", "uniform", "exact"]
    for _, rec in records.iterrows():
        pulls = records[(records["dataset"] == rec["dataset"]) & (records["method"] == "ucb1")]["pulls"].item()
        if rec["method"] == "uniform":   # the same pulls as a policy, on mini-batches of the same rows
            assert rec["pulls"] == pulls and rec["rows_evaluated"] > 0
            assert max(rec["counts"]) - min(rec["counts"]) <= 1     # round-robin: balanced within one pull
        elif rec["method"] == "exact":   # every arm on the whole validation split, at every step
            arms = sum(n for _, n in rec["arm_layers"])
            assert rec["pulls"] == 0 and arms * rec["n_val"] <= rec["rows_evaluated"] <= spec.steps * arms * rec["n_val"]
        elif rec["method"] not in ("ucb1", "thompson"):
            assert rec["rows_evaluated"] == 0
    costs = cost_table(records)
    assert list(costs.index[-2:]) == ["uniform", "exact"] and costs.loc["exact", "rows_evaluated"] > 0


def test_the_analysis_shows_the_references_and_counts_them_in_no_rule(deep_smoke):
    _, records = deep_smoke
    comparisons = verdict.comparisons_of(records)
    c = comparisons["deep_learning"]
    assert set(REFERENCES) <= set(c.scores.columns)       # shown in the family table
    board = claims.scoreboard(comparisons, costs=records, n_boot=200)
    without = claims.scoreboard({"deep_learning": claims.without_references(c)}, costs=records, n_boot=200)
    pd.testing.assert_frame_equal(board, without)          # the rules never see them
    for claim_id in ("C1", "C6", "C7", "C8", "C9"):
        assert not any(m in board.loc[claim_id, "evidence"] for m in REFERENCES), claim_id
    assert "references (not in the rule): uniform" in board.loc["C10", "evidence"]


def test_planted_references_change_no_verdict():
    # A deep table where uniform and exact beat everything: the policy rules count the six policies
    # (here two) only, C1 the paper's methods only.
    rng = np.random.default_rng(0)
    base = rng.uniform(0.5, 0.9, size=8)
    cols = {"ucb1": base + 0.02, "thompson": base + 0.01, "magnitude": base - 0.01, "activation_variation": base - 0.02,
            "random": base - 0.03, "none": base}
    paper = pd.DataFrame(cols, index=[f"d{i}" for i in range(8)])
    planted = paper.assign(uniform=base + 0.05, exact=base + 0.06)
    a = claims.scoreboard({"deep_learning": stats.compare(planted)}, n_boot=200)
    b = claims.scoreboard({"deep_learning": stats.compare(paper)}, n_boot=200)
    pd.testing.assert_frame_equal(a, b)
    assert "2/2 policies" in a.loc["C7", "evidence"] and "among its 6 network methods" in a.loc["C1", "evidence"]


def test_the_no_fine_tuning_score_reuses_what_is_known(tmp_path, monkeypatch):
    # Issue 17 §3: with one step, the model before its only fine-tuning is the unfine-tuned model;
    # the sweep's point at the main amount is the main run. Neither is pruned again.
    from mabprune.study import cells

    calls = []
    real = cells.prune
    monkeypatch.setattr(cells, "prune", lambda *a, **k: calls.append(k["method"]) or real(*a, **k))
    kw = dict(methods=["ucb1", "magnitude", "none"], sweep_methods=["ucb1"], sweep_amounts=[0.5, 0.75], amount=0.5,
              steps=1, seeds=[0])
    tuned = run_grid(grid_spec("classification", "smoke", **kw), results_dir=tmp_path / "ft", progress=False)
    assert (tuned["status"] == "ok").all()
    assert sorted(calls) == ["magnitude", "none", "ucb1", "ucb1"]     # was 9 prune calls
    sweep = tuned[(tuned["kind"] == "sweep") & (tuned["amount"] == 0.5)].iloc[0]
    main = tuned[(tuned["kind"] == "prune") & (tuned["method"] == "ucb1")].iloc[0]
    assert sweep["reused_from"] == main["key"] != sweep["key"] and sweep["metric_after"] == main["metric_after"]
    # the score without fine-tuning is what the same grid without fine-tuning measures
    plain = run_grid(grid_spec("classification", "smoke", fine_tune_epochs=0, **kw), results_dir=tmp_path / "no",
                     progress=False)
    for method in ("ucb1", "magnitude"):
        pick = lambda df: df[(df["kind"] == "prune") & (df["method"] == method)].iloc[0]  # noqa: E731
        assert pick(tuned)["score_no_ft"] == pick(plain)["metric_after"], method


def test_the_standard_deep_grid_is_the_cpu_protocol_and_leaves_other_keys_alone():
    """One step, one calibration pull per arm, 40 rounds, a three-point sweep (issue 17 §4); the
    calibration setting enters a run's key only where it is not the default of 4."""
    spec = grid_spec("deep_learning", "standard")
    assert (spec.steps, spec.calibration_batches, spec.rounds, spec.sweep_amounts) == (1, 1, 40, (0.25, 0.5, 0.75))
    assert len(spec.datasets) >= 12 and len({t.split("@")[0] for t in spec.datasets}) >= 6
    runs = {(r["method"], r["kind"], r["amount"]): r["params"]["prune"] for r in plan_runs(spec)}
    assert runs[("ucb1", "prune", 0.5)]["calibration_batches"] == 1
    assert runs[("uniform", "prune", 0.5)]["calibration_batches"] == 1
    assert "calibration_batches" not in runs[("magnitude", "prune", 0.5)]   # it pulls nothing
    quick = plan_runs(grid_spec("deep_learning", "quick", datasets=["sklearn:digits"]))
    assert all("calibration_batches" not in r["params"].get("prune", {}) for r in quick)
    with pytest.raises(ValueError, match="calibration_batches"):
        grid_spec("deep_learning", "standard", calibration_batches=0)
