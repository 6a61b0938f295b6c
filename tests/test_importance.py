"""BanditImportance: a budget in pulls per arm, progress bars, and saying when nothing was pruned (issue 22 §3)."""

import warnings

import numpy as np
import pytest
import torch
import torch_pruning as tp
from torch import nn

from mabprune import bandit
from mabprune import torch_pruning as mtp
from mabprune.arms import find_arms
from mabprune.bandit import bandit_step
from mabprune.engine import make_engine
from mabprune.torch_pruning import BanditImportance

torch.set_num_threads(1)


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 40), nn.ReLU(), nn.Linear(40, 30), nn.ReLU(), nn.Linear(30, 3))


def _data(n=64):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 8, generator=g), torch.randint(0, 3, (n,), generator=g)


def test_budgeted_calibration_pulls_a_random_subset_and_scores_unseen_arms_as_typical():
    model, (X, y) = _mlp(), _data()
    arms = find_arms(model, X[:2])
    eng = make_engine("batched", model, arms)
    done = []
    est, counts, scores, pulls, _ = bandit_step(
        eng, arms.n_arms, X, y, method="ucb1", rounds=0, arms_per_round=8, reward="unit", rank_by="mean",
        batch_size=32, seed=0, step=0, rng=np.random.default_rng(0), calibration_arms=20, progress=done.append)
    assert pulls == 20 == sum(done) and (counts > 0).sum() == 20
    seen = counts > 0
    assert np.all(est[~seen] < est[seen].mean()) and len(np.unique(est[~seen])) == (~seen).sum()
    spread = max(est[seen].std(), abs(est[seen].mean())) * 1e-2
    assert np.all(est[~seen] > est[seen].mean() - spread)


def test_default_budget_is_a_fraction_of_a_pull_per_arm_calibration_included():
    model, (X, y) = _mlp(), _data()
    imp = BanditImportance(data=(X, y), progress=False)
    assert imp.pulls_per_arm == mtp.DEFAULT_PULLS_PER_ARM < 1
    pruner = tp.pruner.BasePruner(model, X[:2], importance=imp, pruning_ratio=0.5, global_pruning=True,
                                  ignored_layers=[model[4]])
    pruner.step()
    assert imp.pulls == 70 + (256 - 70) // 32 * 32   # min_pulls (256): 0.15 x 70 arms would be 11 pulls
    assert model[0].out_features + model[2].out_features == 35   # unseen arms do not tie at the threshold


def test_budget_above_one_pull_per_arm_plays_rounds_after_the_calibration():
    model, (X, y) = _mlp(), _data()
    imp = BanditImportance(data=(X, y), pulls_per_arm=3, arms_per_round=10, progress=False, min_pulls=0)
    tp.pruner.BasePruner(model, X[:2], importance=imp, pruning_ratio=0.5, global_pruning=True,
                         ignored_layers=[model[4]]).step()
    assert imp.pulls == 70 + (210 - 70) // 10 * 10


def test_rounds_and_pulls_per_arm_are_exclusive():
    with pytest.raises(ValueError, match="not both"):
        BanditImportance(data=_data(), rounds=10, pulls_per_arm=0.5)
    with pytest.raises(ValueError, match="positive"):
        BanditImportance(data=_data(), pulls_per_arm=0)


def test_progress_switches(monkeypatch):
    if bandit.tqdm is None:
        pytest.skip("tqdm is not installed")
    monkeypatch.setenv("MABPRUNE_PROGRESS", "0")
    assert not bandit.progress_enabled(True)
    monkeypatch.delenv("MABPRUNE_PROGRESS")
    assert bandit.progress_enabled(True) and not bandit.progress_enabled(False)


def test_a_long_step_is_estimated_before_it_runs(monkeypatch):
    monkeypatch.setattr(mtp, "ESTIMATE_WARN_S", 0.0)
    model, (X, y) = _mlp(), _data()
    imp = BanditImportance(data=(X, y), pulls_per_arm=2, progress=False, min_pulls=0)
    with pytest.warns(RuntimeWarning, match=r"about .* s for 140 pulls on 70 arms"):
        tp.pruner.BasePruner(model, X[:2], importance=imp, pruning_ratio=0.5, global_pruning=True,
                             ignored_layers=[model[4]]).step()


def _score_every_group(model, X, imp):
    dg = tp.DependencyGraph().build_dependency(model, example_inputs=X[:2])
    for group in dg.get_all_groups(ignored_layers=[model[4]], root_module_types=[nn.Linear]):
        imp(group)


def test_warns_when_the_groups_were_scored_but_the_model_did_not_shrink():
    model, (X, y) = _mlp(), _data()
    imp = BanditImportance(data=(X, y), progress=False)
    _score_every_group(model, X, imp)   # what a pruner does, then it removes nothing
    with pytest.warns(RuntimeWarning, match="did not shrink"):
        model(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model(X)   # said once


def test_no_warning_when_the_pruner_removed_channels():
    model, (X, y) = _mlp(), _data()
    imp = BanditImportance(data=(X, y), progress=False)
    tp.pruner.BasePruner(model, X[:2], importance=imp, pruning_ratio=0.5, global_pruning=True,
                         ignored_layers=[model[4]]).step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model(X)


def test_a_group_without_scores_says_what_to_do():
    model, (X, y) = _mlp(), _data()
    imp = BanditImportance(data=(X, y), layers=["0"], progress=False)
    with pytest.raises(ValueError, match=r"same layers= and ignored_layers=.*heads=True"):
        _score_every_group(model, X, imp)


def test_prune_draws_a_bar_that_changes_nothing(monkeypatch, capsys):
    if bandit.tqdm is None:
        pytest.skip("tqdm is not installed")
    from mabprune import prune
    model, (X, y) = _mlp(), _data()
    settings = dict(amount=0.3, rounds=6, arms_per_round=8, batch_size=16, steps=2)
    quiet = prune(model, (X, y), progress=False, **settings)
    assert "prune step" not in capsys.readouterr().err
    shown = prune(model, (X, y), progress=True, **settings)
    assert "prune step 1" in capsys.readouterr().err
    monkeypatch.setenv("MABPRUNE_PROGRESS", "0")
    prune(model, (X, y), progress=True, **settings)
    assert "prune step" not in capsys.readouterr().err
    assert shown.pulls == quiet.pulls
    torch.testing.assert_close(shown.model[0].weight, quiet.model[0].weight)


def test_a_model_with_the_pending_check_can_be_saved_and_copied(tmp_path):
    import copy
    model, (X, y) = _mlp(), _data()
    imp = BanditImportance(data=(X, y), progress=False)
    _score_every_group(model, X, imp)
    torch.save(model, tmp_path / "model.pt")
    clone = copy.deepcopy(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clone(X)   # the copy's hook is a no-op
    with pytest.warns(RuntimeWarning, match="did not shrink"):
        model(X)
