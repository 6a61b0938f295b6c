"""The pruning loop: rankings, physical removal, baselines and input validation."""

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from mabprune import baselines
from mabprune.arms import find_arms
from mabprune.engine import make_engine
from mabprune.models import mlp
from mabprune.policies import POLICIES
from mabprune.pruning import METHODS, prune
from mabprune.removal import select_removals


def teacher_with_dead_units(n_live=20, n_dead=6, seed=0):
    """A regression net whose targets are its own outputs, plus dead units (zero outgoing weights).

    The base loss is 0, so masking a live unit raises the loss wherever it is active, while a
    dead unit's ΔL is exactly 0: the dead units are the only safe ones.
    """
    g = torch.Generator().manual_seed(seed)
    n = n_live + n_dead
    model = nn.Sequential(nn.Linear(5, n), nn.ReLU(), nn.Linear(n, 1))
    dead = torch.randperm(n, generator=g)[:n_dead]
    with torch.no_grad():
        model[0].weight.copy_(torch.randn(n, 5, generator=g))
        model[0].bias.zero_()
        model[2].weight.copy_(torch.rand(1, n, generator=g) + 1.0)
        model[2].weight[:, dead] = 0
    X = torch.randn(400, 5, generator=g)
    with torch.no_grad():
        y = model(X).squeeze(1)
    return model, X, y, set(dead.tolist())


@pytest.mark.parametrize("method", POLICIES)
def test_every_policy_ranks_planted_dead_units_safest(method):
    model, X, y, dead = teacher_with_dead_units()
    result = prune(model, (X, y), method=method, amount=len(dead) / 26, loss_fn="mse", rounds=150,
                   arms_per_round=6, batch_size=64, seed=1)
    assert set(result.ranking[:len(dead)].tolist()) == dead
    assert set(result.removed["0"]) == dead
    # Removing exactly the dead units leaves the function unchanged.
    with torch.no_grad():
        torch.testing.assert_close(result.model(X).squeeze(1), y, rtol=1e-5, atol=1e-5)
    assert result.model[0].out_features == 26 - len(dead)


@pytest.mark.parametrize("method", ["ucb1", "thompson", "hedge", "random", "activation_variation"])
def test_same_seed_same_ranking(method):
    model, X, y, _ = teacher_with_dead_units(seed=2)
    kwargs = dict(method=method, amount=0.3, loss_fn="mse", rounds=30, arms_per_round=4, batch_size=32)
    a, b = prune(model, (X, y), seed=7, **kwargs), prune(model, (X, y), seed=7, **kwargs)
    np.testing.assert_array_equal(a.ranking, b.ranking)
    np.testing.assert_array_equal(a.estimates, b.estimates)
    assert a.removed == b.removed


def test_result_bookkeeping_and_input_model_untouched():
    torch.manual_seed(0)
    model = mlp(6, 3, hidden=(16, 8))
    X, y = torch.randn(100, 6), torch.randint(0, 3, (100,))
    before = [p.clone() for p in model.parameters()]
    result = prune(model, (X, y), method="epsilon_greedy", amount=0.5, rounds=25, arms_per_round=5)
    assert all(torch.equal(p, q) for p, q in zip(before, model.parameters()))
    assert result.n_removed == 12
    assert result.pulls == 24 * 4 + 25 * 5              # calibration pass (4 mini-batches) + rounds
    assert len(result.history) == 25 and result.counts.sum() == result.pulls
    assert result.params_after < result.params_before and result.macs_after < result.macs_before
    assert result.model[0].out_features + result.model[2].out_features == 12
    assert result.pulls_per_second > 0 and result.wall_time_s >= result.pull_time_s
    assert sorted(result.ranking.tolist()) == list(range(24))


def test_scope_layer_min_units_and_steps():
    torch.manual_seed(0)
    model = mlp(6, 3, hidden=(20, 10))
    X, y = torch.randn(80, 6), torch.randint(0, 3, (80,))
    layer = prune(model, (X, y), method="magnitude", amount=0.5, scope="layer")
    assert (len(layer.removed["0"]), len(layer.removed["2"])) == (10, 5)
    with pytest.warns(UserWarning, match="removed 22 of the 27 units asked"):  # the floor keeps 4 + 4
        floor = prune(model, (X, y), method="random", amount=0.9, min_units_per_layer=4)
    assert floor.model[0].out_features >= 4 and floor.model[2].out_features >= 4
    stepped = prune(model, (X, y), method="ucb1", amount=0.5, steps=3, rounds=30, arms_per_round=5)
    assert stepped.n_removed == 15
    assert all(len(set(units)) == len(units) for units in stepped.removed.values())
    assert stepped.model[0].out_features == 20 - len(stepped.removed["0"])
    assert {h["step"] for h in stepped.history} == {0, 1, 2}


def test_none_and_fine_tune_and_dataloader_and_mean_replacement():
    torch.manual_seed(0)
    model = mlp(4, 2, hidden=(8,))
    X, y = torch.randn(40, 4), torch.randint(0, 2, (40,))
    none = prune(model, (X, y), method="none")
    assert none.params_after == none.params_before and none.n_removed == 0
    calls = []
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=16)
    result = prune(model, loader, method="softmax", amount=0.25, rounds=5, arms_per_round=2,
                   fine_tune=lambda m: calls.append(m))
    assert len(calls) == 1 and calls[0] is result.model
    mean = prune(model, (X, y), method="taylor", amount=0.5, replacement="mean")
    assert mean.model[0].out_features == 4


def test_mean_replacement_folds_the_mean_into_the_next_bias():
    torch.manual_seed(0)
    model = mlp(4, 2, hidden=(8,)).eval()
    with torch.no_grad():
        model[0].weight[3] = 0
        model[0].bias[3] = 2.0               # unit 3 outputs the constant relu(2) = 2
    X, y = torch.randn(50, 4), torch.randint(0, 2, (50,))
    result = prune(model, (X, y), method="magnitude", amount=1 / 8, replacement="mean", layers=["0"])
    if 3 in result.removed["0"]:
        with torch.no_grad():
            torch.testing.assert_close(result.model(X), model(X), rtol=1e-5, atol=1e-5)


def test_baseline_scores():
    model = mlp(4, 2, hidden=(6,)).eval()
    with torch.no_grad():
        model[0].weight[2] = 0      # a constant unit: zero activation variance
        model[0].bias[2] = 1.0
    X = torch.randn(64, 4)
    arms = find_arms(model, X[:2])
    variation = baselines.activation_variation_scores(model, arms, X)
    assert np.argmax(variation) == 2 and variation[2] == pytest.approx(0.0, abs=1e-12)
    # Taylor is a first-order estimate of the ΔL the engine measures.
    y = torch.randint(0, 2, (64,))
    loss = lambda o, t: nn.functional.cross_entropy(o, t, reduction="none")
    taylor = -baselines.taylor_scores(model, arms, X, y, loss, variant="signed")
    exact = make_engine("naive", model, arms).pull(range(6), X, y)
    assert np.corrcoef(taylor, exact)[0, 1] > 0.5
    np.testing.assert_array_equal(baselines.random_scores(arms, 3), baselines.random_scores(arms, 3))


def test_select_removals_respects_floor_and_exclusions():
    arms = find_arms(mlp(3, 2, hidden=(4, 4)), torch.zeros(2, 3))
    scores = np.array([9, 8, 7, 6, 0, 0, 0, 0], float)
    assert select_removals(scores, arms, 4, min_units_per_layer=2).tolist() == [0, 1, 4, 5]
    assert select_removals(scores, arms, 2, exclude=[0]).tolist() == [1, 2]


@pytest.mark.parametrize("kwargs, message", [
    (dict(method="bogus"), "unknown method 'bogus'"),
    (dict(amount=1.0), r"amount must be a fraction in \(0, 1\), got 1.0"),
    (dict(amount=0), r"amount must be a fraction in \(0, 1\), got 0"),
    (dict(rounds=-1), "rounds must be an integer >= 0, got -1"),
    (dict(batch_size=0), "batch_size must be an integer >= 1, got 0"),
    (dict(reward="log"), "unknown reward 'log'"),
    (dict(scope="net"), "unknown scope 'net'"),
    (dict(engine="turbo"), "unknown engine 'turbo'"),
    (dict(method="ucb1", reward="raw"), "needs rewards in \\[0, 1\\]"),
    (dict(method="ucb1", policy_params={"k": 1}), "k"),
    (dict(method="magnitude", policy_params={"c": 1}), "not a bandit policy"),
    (dict(device="tpu9"), "unknown device 'tpu9'"),
    (dict(fine_tune=3), "fine_tune must be a callable"),
])
def test_bad_input_is_named(kwargs, message):
    model = mlp(3, 2, hidden=(4,))
    data = (torch.randn(10, 3), torch.randint(0, 2, (10,)))
    with pytest.raises(ValueError, match=message):
        prune(model, data, **kwargs)


def test_bad_data_and_models():
    model = mlp(3, 2, hidden=(4,))
    empty = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(0, 3), torch.zeros(0)))
    with pytest.raises(ValueError, match="empty DataLoader"):
        prune(model, empty)
    with pytest.raises(ValueError, match="no prunable layer"):
        prune(nn.Sequential(nn.Linear(3, 2)), (torch.randn(4, 3), torch.zeros(4, dtype=torch.long)))
    with pytest.raises(ValueError, match="4 inputs but 3 targets"):
        prune(model, (torch.randn(4, 3), torch.zeros(3, dtype=torch.long)))
    X = torch.randn(300, 3)
    X[200, 1] = float("nan")
    with pytest.raises(ValueError, match=r"NaN or infinite on batch 1 .*first at sample 200"):
        prune(model, (X, torch.zeros(300, dtype=torch.long)), batch_size=128)


# ------------------------------------------------------------------ probe of bad input (issue 22 §4)

def test_an_amount_that_removes_no_unit_is_refused_with_the_smallest_that_does():
    model = mlp(3, 2, hidden=(4, 4))  # 8 arms: 0.01 · 8 rounds to 0
    data = (torch.randn(10, 3), torch.randint(0, 2, (10,)))
    for amount in (0.01, 0.0625):  # 0.0625 · 8 = 0.5 rounds to 0 too
        with pytest.raises(ValueError, match=rf"amount={amount} removes no unit of the 8 arms .*just above 0.5/8 = 0.0625"):
            prune(model, data, method="magnitude", amount=amount)
    assert prune(model, data, method="magnitude", amount=0.07).n_removed == 1


def test_a_floor_that_blocks_the_amount_warns_with_asked_and_removed():
    model = mlp(6, 3, hidden=(20, 10))
    X, y = torch.randn(80, 6), torch.randint(0, 3, (80,))
    with pytest.warns(UserWarning, match=r"removed 22 of the 27 units asked .*min_units_per_layer=4"):
        result = prune(model, (X, y), method="random", amount=0.9, min_units_per_layer=4)
    assert result.n_removed == 22
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning when the amount is met, nor for 'none'
        prune(model, (X, y), method="random", amount=0.5, min_units_per_layer=4)
        prune(model, (X, y), method="none", amount=0.9, min_units_per_layer=4)


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_a_bad_seed_is_named(seed):
    model = mlp(3, 2, hidden=(4,))
    data = (torch.randn(10, 3), torch.randint(0, 2, (10,)))
    for method in ("ucb1", "magnitude"):
        with pytest.raises(ValueError, match=f"seed must be a non-negative integer, got {seed!r}"):
            prune(model, data, method=method, amount=0.5, rounds=2, arms_per_round=2, seed=seed)


def test_labels_of_shape_n_by_1_for_cross_entropy_are_named():
    model = mlp(3, 2, hidden=(4,))
    X, y = torch.randn(10, 3), torch.randint(0, 2, (10,))
    with pytest.raises(ValueError, match=r"labels of shape \(10, 1\).*one class per sample, shape \(10,\)"):
        prune(model, (X, y[:, None]), method="magnitude", amount=0.5)


def test_integer_inputs_to_a_float_model_are_named():
    model = mlp(3, 2, hidden=(4,))
    X, y = torch.randint(0, 5, (10, 3)), torch.randint(0, 2, (10,))
    with pytest.raises(ValueError, match=r"torch.int64, .*first layer '0' \(Linear\).*torch.float32.*X.float\(\)"):
        prune(model, (X, y), method="magnitude", amount=0.5)
    # an embedding first takes the integers as they are
    emb = nn.Sequential(nn.Embedding(5, 4), nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 2))
    assert prune(emb, (X, y), method="magnitude", amount=0.5).n_removed == 4


@pytest.mark.parametrize("where, value", [("0.weight", float("nan")), ("2.bias", float("inf"))])
def test_a_weight_that_is_not_finite_is_named(where, value):
    model = mlp(3, 2, hidden=(4,))
    with torch.no_grad():
        dict(model.named_parameters())[where].view(-1)[0] = value
    with pytest.raises(ValueError, match=f"parameter {where!r} holds 1 NaN or infinite value"):
        prune(model, (torch.randn(10, 3), torch.randint(0, 2, (10,))), method="magnitude", amount=0.5)


def test_methods_cover_policies_and_baselines():
    assert set(METHODS) == set(POLICIES) | {"magnitude", "activation_variation", "taylor", "random", "none"}


@pytest.mark.parametrize("method", ["magnitude", "ucb1"])
def test_small_amount_in_steps_removes_the_amount_not_everything(method):
    # Regression: a step quota of 0 made select_removals strip every layer to its floor
    # (amount 0.1 of 64 units in 4 steps removed 62 units).
    torch.manual_seed(0)
    model = mlp(8, 2, hidden=(32, 32))
    X, y = torch.randn(128, 8), torch.randint(0, 2, (128,))
    result = prune(model, (X, y), method=method, amount=0.1, steps=4, rounds=8, arms_per_round=8, seed=0)
    assert sum(len(u) for u in result.removed.values()) == round(0.1 * 64)
    assert len(select_removals(np.arange(64.0), find_arms(model, X[:2]), 0)) == 0


def test_torch_loss_modules_and_named_input_checks():
    torch.manual_seed(0)
    model = mlp(4, 3, hidden=(8,)).eval()
    X, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    by_name = prune(model, (X, y), method="ucb1", amount=0.25, rounds=3, arms_per_round=4, seed=1)
    by_module = prune(model, (X, y), method="ucb1", amount=0.25, rounds=3, arms_per_round=4, seed=1,
                      loss_fn=nn.CrossEntropyLoss())
    np.testing.assert_allclose(by_module.estimates, by_name.estimates, rtol=1e-6)
    reg = mlp(4, 1, hidden=(8,))
    prune(reg, (X, torch.randn(32)), method="magnitude", amount=np.float64(0.25), loss_fn=nn.MSELoss())
    with pytest.raises(ValueError, match="labels range over 0..5 but the model outputs 3 classes"):
        prune(model, (X, torch.arange(32) % 6), amount=0.25, rounds=1)
    with pytest.raises(ValueError, match="needs integer class labels"):
        prune(model, (X, torch.randn(32)), amount=0.25, rounds=1)
    with pytest.raises(ValueError, match=r"outputs \(1,\) per sample but the target is \(2,\)"):
        prune(reg, (X, torch.randn(32, 2)), amount=0.25, rounds=1, loss_fn="mse")
    with pytest.raises(ValueError, match="dtype torch.float64"):
        prune(model, (X.double(), y), amount=0.25, rounds=1)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            prune(model, (X, y), amount=0.25, rounds=1, device="cuda")


def test_returned_model_keeps_train_mode_and_dataloader_tuples_and_dicts():
    from torch.utils.data import DataLoader
    from tests.zoo import TwoInput
    torch.manual_seed(0)
    model = TwoInput().train()
    a, b, y = torch.randn(24, 6), torch.randn(24, 4), torch.randint(0, 3, (24,))
    tuples = DataLoader(list(zip(a, b, y)), batch_size=8)
    dicts = DataLoader([{"x": a[i], "z": b[i], "target": y[i]} for i in range(24)], batch_size=8)
    r1 = prune(model, tuples, method="ucb1", amount=0.25, rounds=2, arms_per_round=4)
    r2 = prune(model, dicts, method="ucb1", amount=0.25, rounds=2, arms_per_round=4, target="target")
    assert r1.model.training and r2.model.training
    np.testing.assert_allclose(r1.estimates, r2.estimates, rtol=1e-6)
    with pytest.raises(ValueError, match="name the target key"):
        prune(model, DataLoader([{"x": a[i], "z": b[i], "t": y[i]} for i in range(24)], batch_size=8), amount=0.25)


def test_removal_books_group_channels_and_keeps_shapes_consistent():
    import torchvision
    from mabprune.graph import check_shapes
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=4).eval()
    X, y = torch.randn(8, 3, 16, 16), torch.randint(0, 4, (8,))
    result = prune(model, (X, y), method="random", amount=0.5, steps=2, layers=["conv1", "layer1.0.conv1"])
    check_shapes(result.model)
    assert result.n_removed == 64 and set(result.removed) == {"conv1", "layer1.0.conv1"}
    assert result.model.conv1.out_channels == 64 - len(result.removed["conv1"]) == result.model.bn1.num_features
    assert result.model.layer1[0].conv1.out_channels == 64 - len(result.removed["layer1.0.conv1"])
