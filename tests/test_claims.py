"""Tests of mabprune.analysis.claims: the scoreboard's verdicts on claims C1–C10 and their evidence."""

from __future__ import annotations

import dataclasses
import doctest

import numpy as np
import pandas as pd
import pytest

import mabprune.analysis.claims as mc
from mabprune.analysis.claims import VERDICTS, family_name, scoreboard, verdict_counts
from mabprune.analysis.stats import BASELINES, MAB_POLICIES, REGRESSORS, Comparison, compare
from tests.test_stats import DEMSAR_METHODS, DEMSAR_ROWS


@pytest.fixture(scope="module")
def demsar() -> pd.DataFrame:
    return pd.DataFrame.from_dict(DEMSAR_ROWS, orient="index", columns=DEMSAR_METHODS)


def _table(quality: dict[str, float], *, n: int, seed: int, error: bool = False) -> pd.DataFrame:
    """Scores with per-method quality levels 0.01 apart, dataset offsets and small noise."""
    rng = np.random.default_rng(seed)
    level = np.array(list(quality.values())) * 0.01
    values = rng.uniform(0.6, 0.8, size=(n, 1)) + level + rng.normal(0, 0.003, (n, len(level)))
    return pd.DataFrame(1 - values if error else values, columns=list(quality),
                        index=[f"d{i}" for i in range(n)])


# the baselines from strongest to weakest in these synthetic tables (random weaker than none)
RANKED_BASELINES = ("none", "magnitude", "activation_variation", "taylor", "random")
assert set(RANKED_BASELINES) == set(BASELINES)


def _families(ucb1_best: bool, n: int = 30) -> dict[str, Comparison]:
    if ucb1_best:  # ucb1 > thompson > other policies > baselines > regressors
        policies = {"ucb1": 30, "thompson": 29, "hedge": 28, "softmax": 27, "exp3": 26,
                    "epsilon_greedy": 25}
        baselines = dict(zip(RANKED_BASELINES, [20, 19, 18, 17, 16]))
    else:  # baselines > other policies > thompson > ucb1 (worst)
        policies = {"hedge": 28, "softmax": 27, "exp3": 26, "epsilon_greedy": 25,
                    "thompson": 24, "ucb1": 0}
        baselines = dict(zip(RANKED_BASELINES, [40, 39, 38, 37, 36]))
    regressors = dict(zip(REGRESSORS, range(10, 1, -1) if ucb1_best else range(50, 41, -1)))
    nets = {**policies, **baselines}
    return {
        "tabular_classification": compare(_table(nets, n=n, seed=1)),
        "tabular_regression": compare(_table({**nets, **regressors}, n=n, seed=2, error=True),
                                      higher_is_better=False),
        "deep_learning": compare(_table(nets, n=n, seed=3)),
    }


def _costs(prune_per_train: float) -> pd.DataFrame:
    rows = [{"method": m, "prune_time_s": prune_per_train * 10.0 * (1 + 0.1 * i),
             "train_time_s": 10.0, "pulls": 500 + i} for i in range(3) for m in MAB_POLICIES]
    rows += [{"method": m, "prune_time_s": 0.2, "train_time_s": 10.0, "pulls": 0}
             for m in ("magnitude", "activation_variation")]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def best():
    return _families(ucb1_best=True)


@pytest.fixture(scope="module")
def worst():
    return _families(ucb1_best=False)


def test_scoreboard_when_ucb1_is_clearly_best(best):
    board = scoreboard(best, costs=_costs(2.0))
    assert list(board.index) == [f"C{i}" for i in range(1, 11)]
    assert list(board.columns) == ["family", "claim", "rule", "evidence", "control", "verdict"]
    assert board["verdict"].eq("holds").all(), board[["evidence", "verdict"]].to_string()
    assert board.loc["C1", "family"] == "all" and board.loc["C6", "family"] == "deep_learning"
    assert "tabular_regression: among its 11 network methods p = " in board.loc["C1", "evidence"]
    assert board.loc["C1", "control"].startswith("Friedman among the six MAB policies alone: ")
    assert board.loc["C2", "evidence"].startswith("P(ucb1 best of 6 policies) = 1.00 (2000 "
                                                  "bootstrap resamples of N = 30 datasets)")
    assert board.loc["C2", "control"].startswith("fails: P(random best of 6 policies) = 0.00")
    assert board.loc["C3", "evidence"].startswith("ucb1 − none = +0.100 [+0.09")
    assert "one planned Wilcoxon test: p = " in board.loc["C3", "evidence"]
    assert "Bayesian P(ucb1 better / equivalent / none better, ROPE 0.01) = 1.00 / 0.00 / 0.00" \
        in board.loc["C3", "evidence"]
    assert board.loc["C3", "control"].startswith("fails: random − none = -0.04")
    assert board.loc["C5", "evidence"].startswith(
        "ucb1 competitive (P(equivalent within ROPE 0.01 or better) > 0.9) with 9/9 regressors "
        "(need 5)")
    assert "ucb1 − random = +0.14" in board.loc["C5", "evidence"]
    # Mean ranks 1..6 for the policies, 7 for none, CD 2.76 (k = 11, N = 30): Nemenyi
    # separates four; the paired rule (Wilcoxon, Holm over the six, and a bootstrap interval)
    # all six.
    assert board.loc["C7", "evidence"].startswith("6/6 policies significantly better than none "
                                                  "(Holm over 6)")
    assert "by Nemenyi over the whole table 4 (mean rank none 7.03, CD = 2.76)" \
        in board.loc["C7", "evidence"]
    assert "ucb1 (+0.100 [" in board.loc["C7", "evidence"]
    assert "ratio 2.2" in board.loc["C10", "evidence"] and "ucb1 " in board.loc["C10", "evidence"]
    assert board.loc["C10", "control"] == "no policy named: no control"
    assert board.loc["C2", "rule"] == ("P(ucb1 has the best mean rank of the six policies) > "
                                       "0.9, bootstrap over datasets")
    assert "one planned Wilcoxon test, p < 0.05, and the 95% bootstrap interval" \
        in board.loc["C3", "rule"]


def test_scoreboard_when_ucb1_is_clearly_worst(worst):
    board = scoreboard(worst, costs=_costs(50.0))
    assert board.loc["C1", "verdict"] == "holds"  # the methods still differ
    for claim in ["C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9", "C10"]:
        assert board.loc[claim, "verdict"] == "does not hold", claim
    assert board.loc["C5", "evidence"].startswith(
        "ucb1 competitive (P(equivalent within ROPE 0.01 or better) > 0.9) with 0/9 regressors "
        "(need 5)")
    assert "significantly worse (Holm over 10) than 9/9: linear" in board.loc["C5", "evidence"]
    # Random pruning is the best policy here: the controls of C2 and C4 pass, and since the
    # claims fail the verdict stays "does not hold".
    assert board.loc["C2", "control"].startswith("passes: P(random best of 6 policies) = 1.00")


def test_scoreboard_missing_family_and_methods(best):
    partial = {k: v for k, v in best.items() if k != "deep_learning"}
    board = scoreboard(partial)
    for claim in ["C6", "C7", "C8", "C9"]:
        assert board.loc[claim, "verdict"] == "not enough data"
        assert board.loc[claim, "evidence"] == "no deep_learning comparison"
    assert board.loc["C1", "verdict"] == "holds"  # over the families present
    assert "no deep_learning comparison" in board.loc["C1", "evidence"]
    assert board.loc["C10", ["evidence", "verdict"]].tolist() == ["no costs table",
                                                                  "not enough data"]
    assert scoreboard({})["verdict"].eq("not enough data").all()

    cls = best["tabular_classification"]
    reg = best["tabular_regression"]
    fewer = {"tabular_classification": compare(cls.scores.drop(columns=["none", "exp3"])),
             "tabular_regression": compare(reg.scores[["ucb1", "random", "linear", "ridge"]],
                                           higher_is_better=False),
             "deep_learning": dataclasses.replace(best["deep_learning"], n_datasets=1)}
    board = scoreboard(fewer, costs=_costs(1.0).query("method == 'magnitude'"))
    assert board["verdict"].drop("C1").eq("not enough data").all(), board.to_string()
    assert board.loc["C1", "verdict"] == "holds"  # both tabular families still qualify
    assert "deep_learning has 1 dataset(s); need at least 2" in board.loc["C1", "evidence"]
    assert "lacks methods ['exp3']" in board.loc["C2", "evidence"]
    assert "lacks methods ['none']" in board.loc["C3", "evidence"]
    assert "2 regressor(s) ['linear', 'ridge']; need 3" in board.loc["C5", "evidence"]
    assert "deep_learning has 1 dataset(s)" in board.loc["C7", "evidence"]


def test_scoreboard_alpha_changes_decisions(demsar):
    # C3 is one planned Wilcoxon test: p = 0.011 passes at 0.05 and fails at 0.01 (Holm over
    # Demšar's 6 pairs, 0.0658, would have failed at 0.05), the bootstrap interval excluding 0.
    table = demsar.rename(columns={"C4.5": "none", "C4.5+m": "ucb1"})
    for alpha, verdict in [(0.05, "holds"), (0.01, "does not hold")]:
        board = scoreboard({"tabular_classification": compare(table)}, alpha=alpha)
        assert board.loc["C3", "verdict"] == verdict
        evidence = board.loc["C3", "evidence"]
        assert evidence.startswith("ucb1 − none = +0.016 [+0.006, +0.026], one planned "
                                   "Wilcoxon test: p = 0.011 (Holm over the whole table: "
                                   "0.0658), Nemenyi p = 0.0887"), evidence
        # No random column: the control cannot run, and says so.
        assert board.loc["C3", "control"] == "not run: tabular_classification lacks methods " \
            "['random']"


def test_scoreboard_bad_inputs(best):
    with pytest.raises(ValueError, match=r"unknown families \['vision'\]"):
        scoreboard({"vision": best["deep_learning"]})
    with pytest.raises(ValueError, match=r"comparisons\['deep_learning'\] must be a Comparison"):
        scoreboard({"deep_learning": best["deep_learning"].scores})
    with pytest.raises(ValueError, match="comparisons must be a dict"):
        scoreboard([best["deep_learning"]])
    with pytest.raises(ValueError, match=r"costs lacks columns \['pulls'\]"):
        scoreboard(best, costs=_costs(1.0).drop(columns="pulls"))
    with pytest.raises(ValueError, match="costs must be a DataFrame or None"):
        scoreboard(best, costs={"method": ["ucb1"]})



@pytest.mark.parametrize("alpha", [0, 1, -0.1, 1.5, float("nan"), "0.05", True, None])
def test_scoreboard_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha must be a number in"):
        scoreboard({}, alpha=alpha)


# --- C5: not worse than half the regressors, and better than random ---------------------------

def _regression(quality: dict[str, float]) -> dict[str, Comparison]:
    # Levels 0.1 apart against noise 0.003: every dataset ranks the methods alike.
    scores = _table({m: 10 * q for m, q in quality.items()}, n=30, seed=4)
    return {"tabular_regression": compare(scores)}


def test_c5_holds_when_better_than_random_and_half_the_regressors():
    # ucb1 is significantly worse than the two ensembles, better than the other three.
    quality = {"random_forest": 6, "gradient_boosting": 5, "ucb1": 3, "svr": 2.9, "linear": 2,
               "ridge": 1, "random": 0}
    board = scoreboard(_regression(quality))
    assert board.loc["C5", "verdict"] == "holds", board.loc["C5", "evidence"]
    assert board.loc["C5", "evidence"].startswith(
        "ucb1 competitive (P(equivalent within ROPE 0.01 or better) > 0.9) with 3/5 regressors "
        "(need 3): linear, ridge, svr; significantly worse (Holm over 6) than 2/5: "
        "random_forest, gradient_boosting;")
    assert "ucb1 − random = +0.30" in board.loc["C5", "evidence"]
    assert board.loc["C5", "control"].startswith(
        "fails: random competitive (P(equivalent within ROPE 0.01 or better) > 0.9) with 0/5 "
        "regressors (need 3)")


def test_c5_fails_below_half_or_without_beating_random():
    quality = {"random_forest": 6, "gradient_boosting": 5, "svr": 4, "ucb1": 3, "linear": 2,
               "random": 0}
    board = scoreboard(_regression(quality))  # worse than 3 of 4: only 1 fine, need 2
    assert board.loc["C5", "verdict"] == "does not hold"
    assert board.loc["C5", "evidence"].startswith(
        "ucb1 competitive (P(equivalent within ROPE 0.01 or better) > 0.9) with 1/4 regressors "
        "(need 2)")
    # Competitive with every regressor, but random pruning does as well as ucb1.
    level = {"ucb1": 3, "random": 3, "linear": 1, "ridge": 1, "svr": 1}
    board = scoreboard(_regression(level))
    assert board.loc["C5", "verdict"] == "does not hold", board.loc["C5", "evidence"]
    assert "with 3/3 regressors" in board.loc["C5", "evidence"]
    assert board.loc["C5", "control"].startswith(
        "fails: random competitive (P(equivalent within ROPE 0.01 or better) > 0.9) with 3/3 "
        "regressors")


# --- the random control and the bootstrap of "best rank" claims --------------------------------

def _planted(policy_levels: dict[str, float], *, n: int = 20, seed: int = 7,
             noise: float = 0.003) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.6, 0.8, size=(n, 1))
    names = list(policy_levels)
    values = base + np.array([policy_levels[m] for m in names]) + rng.normal(0, noise,
                                                                              (n, len(names)))
    return pd.DataFrame(values, columns=names, index=[f"d{i}" for i in range(n)])


def test_random_passing_too_is_labelled():
    # Every pruned network, random included, is 0.05 better than the unpruned one (pruning
    # plus fine-tuning regularises): C3, C7, C8, C9 hold, but random passes each rule too.
    levels = {**dict.fromkeys(MAB_POLICIES, 0.05), "random": 0.05, "none": 0.0,
              "magnitude": 0.0, "activation_variation": 0.0, "taylor": 0.0}
    table = _planted(levels)
    board = scoreboard({"tabular_classification": compare(table),
                        "deep_learning": compare(table)})
    for claim in ("C3", "C7", "C8", "C9"):
        assert board.loc[claim, "verdict"] == "holds, but random pruning passes too", claim
        assert board.loc[claim, "control"].startswith("passes: random − "), claim
    assert verdict_counts(board)["holds, but random pruning passes too"] == 4
    # The policies tie up to noise: no "best rank" claim is sure, for ucb1 or for random.
    for claim in ("C2", "C6"):
        assert board.loc[claim, "verdict"] == "does not hold", board.loc[claim, "evidence"]
        assert board.loc[claim, "control"].startswith("fails: ")


def test_best_rank_without_certainty_does_not_hold():
    # ucb1 leads on average by a fraction of the noise: the best mean rank, but a coin flip.
    levels = {"ucb1": 0.002, **{m: 0.0 for m in MAB_POLICIES if m != "ucb1"}, "random": 0.0}
    table = _planted(levels, noise=0.01)
    c = compare(table)
    board = scoreboard({"tabular_classification": c})
    assert c.mean_ranks[list(MAB_POLICIES)].idxmin() == "ucb1"  # the old rule would hold
    p = float(board.loc["C2", "evidence"].split(" = ")[1].split(" ")[0])
    assert 0.2 < p < 0.9 and board.loc["C2", "verdict"] == "does not hold"
    # A clear lead holds, and random in ucb1's place does not.
    sure = _planted({**levels, "ucb1": 0.03}, noise=0.01)
    board = scoreboard({"tabular_classification": compare(sure)})
    assert board.loc["C2", "verdict"] == "holds"
    assert board.loc["C2", "control"].startswith("fails: P(random best of 6 policies) = 0.00")


def test_random_best_policy_passes_the_control():
    # Random pruning ahead of every policy, ucb1 best of the six: C2's rule holds for ucb1,
    # and with random in ucb1's place it holds as well.
    levels = {"random": 0.05, "ucb1": 0.03, **{m: 0.0 for m in MAB_POLICIES if m != "ucb1"}}
    board = scoreboard({"tabular_classification": compare(_planted(levels))})
    assert board.loc["C2", "evidence"].startswith("P(ucb1 best of 6 policies) = 1.00")
    assert board.loc["C2", "control"].startswith("passes: P(random best of 6 policies) = 1.00")
    assert board.loc["C2", "verdict"] == "holds, but random pruning passes too"


def test_seeded_board_is_reproducible():
    levels = {"ucb1": 0.002, **{m: 0.0 for m in MAB_POLICIES if m != "ucb1"}, "random": 0.0,
              "none": -0.001}
    comparisons = {"tabular_classification": compare(_planted(levels, noise=0.01))}
    a = scoreboard(comparisons, seed=3, n_boot=500)
    b = scoreboard(comparisons, seed=3, n_boot=500)
    pd.testing.assert_frame_equal(a, b)
    other = scoreboard(comparisons, seed=4, n_boot=500)
    assert a.loc["C2", "evidence"] != other.loc["C2", "evidence"]  # the resampling is seeded
    assert "(500 bootstrap resamples" in a.loc["C2", "evidence"]


@pytest.mark.parametrize("kwargs, match", [
    ({"threshold": 1.0}, "threshold must be a number in"),
    ({"confidence": 0}, "confidence must be a number in"),
    ({"rope": 0.0}, "rope must be a positive number"),
    ({"n_boot": 10}, "n_boot must be an integer >= 100"),
    ({"seed": -1}, r"seed must be an integer in \[0, 2\*\*32\)"),
])
def test_scoreboard_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        scoreboard({}, **kwargs)


# --- C10: prune time against the training of the family's (dataset, seed) cells ------------

def _cell_rows(family: str, dataset: str, train: float, prune: float, methods, *,
               status: str = "ok") -> list[dict]:
    return [{"family": family, "dataset": dataset, "seed": 0, "kind": "prune", "method": m,
             "status": status, "train_time_s": train, "pulls": 100 if m in MAB_POLICIES else 0,
             "prune_time_s": prune if m in MAB_POLICIES else 0.5} for m in methods]


def _cell_costs(family: str) -> list[dict]:
    """One fast cell with 8 runs, two slow cells with one surviving run each."""
    rows = _cell_rows(family, "d0", 1.0, 20.0, [*MAB_POLICIES, "none", "magnitude"])
    rows += _cell_rows(family, "d1", 30.0, 20.0, ["none"])
    rows += _cell_rows(family, "d1", 999.0, 20.0, MAB_POLICIES, status="error: RuntimeError: x")
    rows += _cell_rows(family, "d2", 30.0, 20.0, ["magnitude"])
    return rows


def test_c10_counts_training_once_per_cell():
    # Per run the median training is 1 s (ratio 20); per cell it is 30 s (ratio 0.67).
    # The error runs' 999 s and their MAB prune times do not count.
    board = scoreboard({}, costs=pd.DataFrame(_cell_costs("classification")))
    assert board.loc["C10", "verdict"] == "holds", board.loc["C10", "evidence"]
    evidence = board.loc["C10", "evidence"]
    assert evidence.startswith("tabular_classification: median MAB prune 20 s vs training 30 s "
                               "(ratio 0.67); limit 10; median per policy: epsilon_greedy 20 s, "
                               "100 pulls")
    assert "baselines: magnitude 0.5 s" in evidence


def test_c10_leaves_regressors_out_and_checks_every_family():
    reg = _cell_rows("regression", "d0", 4.0, 8.0, [*MAB_POLICIES, "none"])
    # Fitting a regressor takes milliseconds; counted as trainings they would sink the median.
    reg += [{"family": "regression", "dataset": "d0", "seed": s, "kind": "regressor",
             "method": m, "status": "ok", "train_time_s": 0.001, "prune_time_s": None,
             "pulls": 0} for s in range(3) for m in REGRESSORS]
    costs = pd.DataFrame(reg)
    board = scoreboard({}, costs=costs)
    assert board.loc["C10", "verdict"] == "holds"
    assert board.loc["C10", "evidence"].startswith(
        "tabular_regression: median MAB prune 8 s vs training 4 s (ratio 2)")

    slow = _cell_rows("deep_learning", "d0", 1.0, 50.0, MAB_POLICIES)  # ratio 50
    board = scoreboard({}, costs=pd.DataFrame(reg + slow))
    assert board.loc["C10", "verdict"] == "does not hold"
    assert "deep_learning: median MAB prune 50 s vs training 1 s (ratio 50)" in (
        board.loc["C10", "evidence"])
    assert "tabular_regression: median MAB prune 8 s" in board.loc["C10", "evidence"]


def test_c10_family_without_mab_runs_is_noted():
    rows = _cell_rows("tabular_classification", "d0", 2.0, 4.0, MAB_POLICIES)
    rows += _cell_rows("deep_learning", "d0", 2.0, 4.0, ["none", "magnitude"])
    board = scoreboard({}, costs=pd.DataFrame(rows))
    assert board.loc["C10", "verdict"] == "holds"
    assert ("deep_learning: no MAB run with prune and (positive) training times"
            in board.loc["C10", "evidence"])
    only_baselines = pd.DataFrame(rows[len(MAB_POLICIES):])
    board = scoreboard({}, costs=only_baselines)
    assert board.loc["C10", "verdict"] == "not enough data"


# --- helpers ---------------------------------------------------------------------------------

def test_family_name():
    assert [family_name(f) for f in ("classification", "regression", "deep_learning")] == [
        "tabular_classification", "tabular_regression", "deep_learning"]
    assert family_name("tabular_classification") == "tabular_classification"
    with pytest.raises(ValueError, match="unknown family 'vision'"):
        family_name("vision")


def test_verdict_counts(best):
    board = scoreboard(best, costs=_costs(2.0))
    counts = verdict_counts(board)
    assert list(counts.index) == list(VERDICTS)
    assert counts.to_dict() == {"holds": 10, "holds, but random pruning passes too": 0,
                                "does not hold": 0, "cannot decide": 0, "not enough data": 0}
    mixed = scoreboard({k: v for k, v in best.items() if k != "deep_learning"})
    assert verdict_counts(mixed).to_dict() == {"holds": 5,
                                               "holds, but random pruning passes too": 0,
                                               "does not hold": 0, "cannot decide": 0,
                                               "not enough data": 5}
    with pytest.raises(ValueError, match="'verdict' column"):
        verdict_counts(board.drop(columns="verdict"))
    with pytest.raises(ValueError, match=r"unknown verdicts \['maybe'\]"):
        verdict_counts(board.assign(verdict="maybe"))


def test_claims_cover_c1_to_c10():
    assert list(mc.CLAIMS) == [f"C{i}" for i in range(1, 11)] == list(mc._RULES) == list(mc.RULES)
    assert set(mc._CONTROLS) == set(mc.CLAIMS) - {"C10"}
    assert {family for family, _ in mc.CLAIMS.values()} == {
        "all", "tabular_classification", "tabular_regression", "deep_learning"}


def test_docstring_examples_run():
    result = doctest.testmod(mc, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# --- issue 18: equivalence for "competitive", "cannot decide" at small N ------------------------

def test_competitive_does_not_pass_for_random_significantly_worse_than_every_regressor():
    # Random pruning trails every regressor by 0.1 on each of 30 datasets: significantly worse
    # than all of them even with Holm over the rule's comparisons, and not competitive.
    quality = {"linear": 5, "ridge": 5.1, "svr": 5.2, "knn": 4.9, "ucb1": 4, "random": 4}
    board = scoreboard(_regression(quality))
    control = board.loc["C5", "control"]
    assert control.startswith("fails: random competitive (P(equivalent within ROPE 0.01 or "
                              "better) > 0.9) with 0/4 regressors (need 2): -; significantly "
                              "worse (Holm over 4) than 4/4"), control
    assert "the competitive part fails" in control
    assert board.loc["C5", "verdict"] == "does not hold"


def test_competitive_passes_when_equivalent_within_the_rope():
    # ucb1 equals each regressor up to noise 0.002 (well inside the ROPE of 0.01), and is
    # far better than random: competitive with all three, C5 holds.
    rng = np.random.default_rng(11)
    base = rng.uniform(0.5, 0.7, size=30)
    scores = pd.DataFrame({m: base + rng.normal(0, 0.002, 30)
                           for m in ("ucb1", "linear", "ridge", "svr")})
    scores["random"] = base - 0.1 + rng.normal(0, 0.002, 30)
    board = scoreboard({"tabular_regression": compare(scores)})
    evidence = board.loc["C5", "evidence"]
    assert evidence.startswith("ucb1 competitive (P(equivalent within ROPE 0.01 or better) > "
                               "0.9) with 3/3 regressors (need 2)"), evidence
    assert board.loc["C5", "verdict"] == "holds", evidence
    # The same table with a ROPE of 0.0005: equivalence cannot be shown any more.
    strict = scoreboard({"tabular_regression": compare(scores)}, rope=0.0005)
    assert strict.loc["C5", "verdict"] == "does not hold", strict.loc["C5", "evidence"]


def test_cannot_decide_when_the_rule_cannot_pass_at_n():
    six = {family: compare(c.scores.iloc[:6], higher_is_better=c.higher_is_better)
           for family, c in _families(ucb1_best=True).items()}
    board = scoreboard(six)
    # ucb1 is best on every dataset, yet six Holm-corrected Wilcoxon tests at N = 6 cannot
    # go below 6 × 0.031 = 0.19: C7–C9 cannot decide, and say how many datasets they need.
    for claim in ("C7", "C8", "C9"):
        assert board.loc[claim, "verdict"] == "cannot decide", claim
        assert board.loc[claim, "evidence"].startswith(
            "cannot decide at N = 6: the smallest attainable p after Holm over 6 test(s) is "
            "0.188 >= 0.05; it needs N >= 8, about N = 8 at the observed effect")
    # One planned test can: C3 decides at N = 6; C5 (Holm over 10) cannot.
    assert board.loc["C3", "verdict"] == "holds"
    assert board.loc["C5", "verdict"] == "cannot decide"
    assert "Holm over 10 test(s) is 0.312" in board.loc["C5", "evidence"]
    two = {family: compare(c.scores.iloc[:2][["ucb1", "none", "random"]],
                           higher_is_better=c.higher_is_better)
           for family, c in _families(ucb1_best=True).items()}
    board = scoreboard(two)
    assert board.loc["C1", "verdict"] == "cannot decide"
    assert "cannot decide at N = 2: the smallest attainable p is 0.135; it needs N >= 3" \
        in board.loc["C1", "evidence"]
    assert board.loc["C3", "verdict"] == "cannot decide"
    assert "it needs N >= 6" in board.loc["C3", "evidence"]
    assert verdict_counts(board)["cannot decide"] == 2


def test_c1_is_decided_among_the_network_methods():
    # The regressors differ hugely from the networks, the networks not at all among
    # themselves: Friedman over all methods rejects, over the network methods it does not.
    rng = np.random.default_rng(5)
    base = rng.uniform(0.5, 0.7, size=(20, 1))
    nets = pd.DataFrame(base + rng.normal(0, 0.01, (20, 4)), columns=["ucb1", "none", "random",
                                                                      "magnitude"])
    regs = pd.DataFrame(base + 0.2 + rng.normal(0, 0.01, (20, 3)), columns=["linear", "ridge",
                                                                            "svr"])
    c = compare(pd.concat([nets, regs], axis=1))
    assert c.friedman_p < 1e-6
    board = scoreboard({"tabular_regression": c})
    assert board.loc["C1", "verdict"] == "does not hold", board.loc["C1", "evidence"]
    assert "among its 4 network methods p = " in board.loc["C1", "evidence"]
    assert "[all 7 methods: p = " in board.loc["C1", "evidence"]
