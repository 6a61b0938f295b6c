"""Issue 18 §6: each baseline definition against a plain reference computed by hand (autograd
per unit on a tiny network), the defaults being Molchanov et al. (2019) and the incoming norm."""

import numpy as np
import pytest
import torch
from torch import nn

from mabprune import baselines
from mabprune.arms import find_arms
from mabprune.pruning import prune


def tiny_conv_net():
    """A conv layer (3 channels) and a dense layer (4 units): both kinds of arm."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 4), nn.ReLU(),
                         nn.Linear(4, 3)).eval()


def data(n=21):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 1, 6, 6, generator=g), torch.randint(0, 3, (n,), generator=g)


def ce(out, target):
    return nn.functional.cross_entropy(out, target, reduction="none")


def first_order_terms(model, X, y):
    """Σ over rows and positions of a·∂L/∂a per unit, L the mean loss of (X, y): plain autograd on
    the post-ReLU activations (a gate before or after a ReLU has the same a·∂L/∂a)."""
    acts = []
    hooks = [model[i].register_forward_hook(lambda m, i, o: acts.append(o)) for i in (1, 4)]
    try:
        loss = ce(model(X), y).mean()
    finally:
        for h in hooks:
            h.remove()
    grads = torch.autograd.grad(loss, acts)
    conv = (acts[0] * grads[0]).sum(dim=(0, 2, 3))   # a conv channel: summed over positions too
    dense = (acts[1] * grads[1]).sum(dim=0)
    return torch.cat([conv, dense]).double().detach().numpy()


def test_default_taylor_is_molchanov_2019_averaged_over_mini_batches():
    model, (X, y) = tiny_conv_net(), data()
    arms = find_arms(model, X[:2])
    assert [layer.n_units for layer in arms.layers] == [3, 4]
    batch = 8   # 21 rows: batches of 8, 8 and 5, each weighted by its rows
    reference = sum(len(yb) * first_order_terms(model, xb, yb) ** 2
                    for xb, yb in zip(X.split(batch), y.split(batch))) / len(y)
    got = baselines.taylor_scores(model, arms, X, y, ce, batch_size=batch, variant="raw")
    np.testing.assert_allclose(got, -reference, rtol=1e-5)
    np.testing.assert_allclose(baselines.taylor_scores(model, arms, X, y, ce, batch_size=batch, variant="raw",
                                                       definition="molchanov2019"), got)
    # Not the square of the whole split's sum: the mini-batches matter.
    assert not np.allclose(got, -first_order_terms(model, X, y) ** 2, rtol=1e-3)
    # The default of prune is this criterion (per-layer normalised under scope="global"), on
    # mini-batches of prune's batch_size.
    res = prune(model, (X, y), method="taylor", amount=0.3, batch_size=batch, steps=1)
    np.testing.assert_allclose(res.estimates, baselines.normalize_per_layer(-reference, arms), rtol=1e-5)


@pytest.mark.parametrize("definition", ["signed", "abs_split"])
def test_the_named_taylor_variants_are_the_whole_split_first_order_term(definition):
    model, (X, y) = tiny_conv_net(), data()
    arms = find_arms(model, X[:2])
    term = first_order_terms(model, X, y)   # ∂L/∂g = −ΔL to first order
    expected = term if definition == "signed" else -np.abs(term)
    for batch in (4, 512):                  # the batch only bounds memory here
        got = baselines.taylor_scores(model, arms, X, y, ce, batch_size=batch, variant="raw", definition=definition)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-9)
    if definition == "signed":              # the older spelling of the same
        np.testing.assert_allclose(baselines.taylor_scores(model, arms, X, y, ce, variant="signed"), expected,
                                   rtol=1e-5, atol=1e-9)
        res = prune(model, (X, y), method="taylor", amount=0.3, steps=1, baseline_variant="signed")
        np.testing.assert_allclose(res.estimates, expected, rtol=1e-5, atol=1e-9)


def test_magnitude_definitions_against_hand_computed_norms():
    model = tiny_conv_net()
    arms = find_arms(model, torch.zeros(2, 1, 6, 6))
    conv, dense, head = model[0], model[3], model[5]
    with torch.no_grad():   # plain norms
        incoming = [float(conv.weight[c].norm()) for c in range(3)] + [float(dense.weight[u].norm()) for u in range(4)]
        cols = dense.weight.reshape(4, 3, 16)   # in_out: the row, the bias and the consumer's columns
        in_out = [float(torch.cat([conv.weight[c].flatten(), conv.bias[c:c + 1], cols[:, c].flatten()]).norm())
                  for c in range(3)]
        in_out += [float(torch.cat([dense.weight[u], dense.bias[u:u + 1], head.weight[:, u]]).norm())
                   for u in range(4)]
    np.testing.assert_allclose(baselines.magnitude_scores(arms), -np.array(incoming), rtol=1e-6)
    np.testing.assert_allclose(baselines.magnitude_scores(arms, definition="in_out"), -np.array(in_out), rtol=1e-6)
    with torch.no_grad():   # the bias is left out of the default: changing it changes nothing
        dense.bias.add_(5.0)
    np.testing.assert_allclose(baselines.magnitude_scores(arms), -np.array(incoming), rtol=1e-6)
    X, y = data()
    res = prune(model, (X, y), method="magnitude", amount=0.3, steps=1, baseline_variant="raw")
    np.testing.assert_allclose(res.estimates, -np.array(incoming), rtol=1e-6)


@pytest.mark.parametrize("call, message", [
    (lambda arms, X, y: baselines.magnitude_scores(arms, definition="molchanov2019"),
     "unknown definition 'molchanov2019' of baseline 'magnitude'"),
    (lambda arms, X, y: baselines.taylor_scores(nn.Identity(), arms, X, y, ce, definition="in_out"),
     "unknown definition 'in_out' of baseline 'taylor'"),
    (lambda arms, X, y: prune(tiny_conv_net(), (X, y), method="random", baseline_definition="in_out"),
     "baseline_definition 'in_out' given, but method 'random' has one definition"),
    (lambda arms, X, y: prune(tiny_conv_net(), (X, y), method="taylor", baseline_variant="signed",
                              baseline_definition="abs_split"),
     "baseline_variant='signed' is the definition 'signed', not baseline_definition 'abs_split'"),
])
def test_a_bad_definition_is_named(call, message):
    X, y = data()
    arms = find_arms(tiny_conv_net(), X[:2])
    with pytest.raises(ValueError, match=message):
        call(arms, X, y)


def test_the_definition_sets_name_a_definition_of_each_baseline():
    for name, chosen in baselines.DEFINITION_SETS.items():
        assert set(chosen) == set(baselines.DEFINITIONS), name
        for method, definition in chosen.items():
            assert baselines.check_definition(method, definition) == definition
    assert baselines.DEFINITION_SETS["reference"] == {"taylor": "molchanov2019", "magnitude": "incoming"}
