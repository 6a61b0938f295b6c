"""Fine-tuning measured in optimizer steps (issue 17 §3): the same samples for every method and
every task, whatever the size of its training split; the epoch-based grids keep their keys."""

from __future__ import annotations

import torch

from mabprune import models
from mabprune.study import cells, grid_spec, plan_runs, run_grid


def _counting_adam(monkeypatch) -> list[int]:
    steps = [0]
    real_step = torch.optim.Adam.step

    def step(self, *a, **k):
        steps[0] += 1
        return real_step(self, *a, **k)

    monkeypatch.setattr(torch.optim.Adam, "step", step)
    return steps


def test_fit_takes_exactly_the_steps_asked_whatever_the_split(monkeypatch):
    steps = _counting_adam(monkeypatch)
    X, y = torch.randn(50, 3), torch.randint(0, 2, (50,))
    models.fit(models.mlp(3, 2, hidden=(4,)), X, y, epochs=99, steps=7, batch_size=16, seed=0)
    assert steps[0] == 7            # 4 batches a pass: the second pass stops after 3
    steps[0] = 0
    models.fit(models.mlp(3, 2, hidden=(4,)), X, y, epochs=2, batch_size=16, seed=0)
    assert steps[0] == 8            # epochs as before: 2 passes of 4 batches


def test_fit_with_steps_is_reproducible_and_differs_from_epochs():
    X, y = torch.randn(40, 3), torch.randint(0, 2, (40,))

    def weights(**kw):
        torch.manual_seed(0)
        model = models.fit(models.mlp(3, 2, hidden=(4,)), X, y, batch_size=8, seed=3, **kw)
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    assert torch.equal(weights(steps=6), weights(steps=6))
    assert torch.equal(weights(epochs=1, steps=5), weights(epochs=1))   # one pass of 5 batches either way
    assert not torch.equal(weights(steps=6), weights(steps=5))


def test_the_deep_family_fine_tunes_in_steps_from_the_standard_profile_on():
    assert grid_spec("deep_learning", "standard").fine_tune_steps == 100
    assert grid_spec("deep_learning", "full").fine_tune_steps == 200
    for family in ("classification", "regression"):
        assert grid_spec(family, "standard").fine_tune_steps is None
    assert grid_spec("deep_learning", "quick").fine_tune_steps is None


def test_a_step_budget_is_in_the_key_and_in_the_records(tmp_path, monkeypatch):
    epochs = grid_spec("classification", "smoke", methods=["magnitude", "none"], sweep_methods=[])
    budget = grid_spec("classification", "smoke", methods=["magnitude", "none"], sweep_methods=[], fine_tune_steps=3)
    assert {r["key"] for r in plan_runs(epochs)}.isdisjoint({r["key"] for r in plan_runs(budget)})
    assert all(r["params"]["fine_tune"]["steps"] == 3 for r in plan_runs(budget))
    assert all("steps" not in r["params"]["fine_tune"] for r in plan_runs(epochs))
    seen = []
    real_fit = cells.models.fit

    def spy(model, X, y, **kw):
        seen.append(kw.get("steps"))
        return real_fit(model, X, y, **kw)

    monkeypatch.setattr(cells.models, "fit", spy)
    records = run_grid(budget, results_dir=tmp_path, progress=False)
    assert set(records["status"]) == {"ok"}
    # the training of the cell (steps None), then 3 steps after each of the 4 pruning steps of every method
    assert seen[0] is None and seen[1:] == [3] * (4 * 2)
    assert set(records["fine_tune_steps_total"]) == {3 * budget.steps}
