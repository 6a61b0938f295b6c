"""What is an arm in an attention model: MLP hidden units always; Hugging Face attention heads
as exact head groups (graph.groups(heads=True)); nn.MultiheadAttention heads rejected with
the reason."""

import copy
import doctest

import numpy as np
import pytest
import torch

from mabprune import graph
from mabprune import inputs
from mabprune.arms import ArmSet, PrunableLayer, find_arms
from mabprune.masks import Masker
from mabprune.engine import make_engine
from mabprune.masks import self_check
from tests.zoo import build

torch.set_num_threads(1)
pytest.importorskip("transformers")


def _bert():
    # Three heads of 4; weights of scale 0.5 (not BERT's 0.02) so that a head changes the output
    # by far more than the 1e-5 tolerance: a wrong removal could not pass as equal.
    from transformers import BertConfig, BertForSequenceClassification
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=40, hidden_size=12, num_hidden_layers=1, num_attention_heads=3, intermediate_size=10,
                     max_position_embeddings=16, num_labels=3, hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0, initializer_range=0.5)
    model = BertForSequenceClassification(cfg).eval()
    torch.manual_seed(1)
    return model, {"input_ids": torch.randint(0, 40, (6, 7))}


def _head_arms(model, example):
    found = graph.groups(model, graph.build_graph(model, example), [model.classifier], heads=True)
    g = next(g for g in found if g.name.startswith("bert.encoder.layer.0.attention.self."))
    layer = PrunableLayer(g.name, g.module, g.n_units, 0, g.readers, g.members)
    return ArmSet([layer], "classifier", dict(model.named_modules())), layer


def test_bert_heads_are_exact_arms_with_heads_true():
    model, X = _bert()
    example = inputs.index(X, slice(0, 2))
    arms, layer = _head_arms(model, example)
    block = "bert.encoder.layer.0.attention.self"
    assert layer.n_units == 3 and set(layer.members) == {f"{block}.query", f"{block}.key", f"{block}.value"}
    assert [r.name for r in layer.readers] == ["bert.encoder.layer.0.attention.output.dense"]
    assert layer.readers[0].channels.tolist() == [0] * 4 + [1] * 4 + [2] * 4   # head h = channels 4h..4h+3
    self_check(model, arms, example, strict=True)                            # raises if mask != removal
    with torch.no_grad():
        full = inputs.call(model, X)
    for heads in ([0], [2], [0, 1]):
        with torch.no_grad(), Masker(model, arms) as masker:
            masker.set(heads)
            masked = inputs.call(model, X)
        pruned = copy.deepcopy(model)
        graph.remove(pruned, example, arms.per_group(heads))
        attn = pruned.get_submodule(block)
        assert attn.query.out_features == attn.key.out_features == attn.value.out_features == 4 * (3 - len(heads))
        assert attn.num_attention_heads == 3 - len(heads) and attn.all_head_size == 4 * (3 - len(heads))
        with torch.no_grad():
            removed = inputs.call(pruned, X)
        assert float((masked - full).abs().max()) > 1e-2                   # the head matters
        torch.testing.assert_close(masked, removed, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="3 heads .* would empty it"):
        graph.remove(copy.deepcopy(model), example, {layer.name: [0, 1, 2]})
    y = torch.randint(0, 3, (6,))
    fast = make_engine("batched", model, arms).pull(np.arange(3), X, y)
    slow = make_engine("naive", model, arms).pull(np.arange(3), X, y)
    np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-6)


def test_bert_heads_are_rejected_by_default_with_the_reason():
    model, X = _bert()
    example = inputs.index(X, slice(0, 2))
    arms = find_arms(model, example)
    assert "bert.encoder.layer.0.intermediate.dense" in [layer.name for layer in arms.layers]   # MLP units
    (name, why), = [(k, v) for k, v in arms.rejected.items() if ".attention.self." in k]
    assert "split into heads of 4" in why and "heads=True" in why
    with pytest.raises(ValueError, match="cannot be masked exactly: attention block .*split into heads of 4"):
        find_arms(model, example, layers=["bert.encoder.layer.0.attention.self.query"])


@pytest.mark.parametrize("name, mha", [("vit", "encoder.layers.encoder_layer_0.self_attention"),
                                       ("transformer", "enc.layers.0.self_attn")])
def test_multihead_attention_heads_are_rejected_with_the_reason(name, mha):
    model, make, _ = build(name)
    arms = find_arms(model, make(2))
    assert "never remove a head" in arms.rejected[mha] and "embed_dim" in arms.rejected[mha]
    assert any(".mlp.0" in layer.name or "linear1" in layer.name for layer in arms.layers)   # the MLP units


def test_graph_docstring_examples_run():
    result = doctest.testmod(graph, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 2 and result.failed == 0


@pytest.mark.parametrize("method", ["ucb1", "magnitude", "taylor"])
def test_prune_with_heads_true_removes_whole_heads(method):
    # find_arms/prune(heads=True) offer the head groups; removal drops heads in q, k, v and the
    # output projection together, and the pruned model still runs.
    from mabprune import prune
    model, X = _bert()
    y = torch.randint(0, 3, (6,))
    arms = find_arms(model, inputs.index(X, slice(0, 2)), ignored_layers=[model.classifier], heads=True)
    head = next(layer for layer in arms.layers if layer.name.startswith("bert.encoder.layer.0.attention.self."))
    assert head.n_units == 3
    res = prune(model, (X, y), method=method, amount=0.2, rounds=3, arms_per_round=4, batch_size=6,
                calibration_batches=1, ignored_layers=[model.classifier], heads=True, seed=0, device="cpu")
    att = res.model.bert.encoder.layer[0].attention.self
    assert att.query.out_features == att.key.out_features == att.value.out_features == 4 * att.num_attention_heads
    assert res.model.bert.encoder.layer[0].attention.output.dense.in_features == att.query.out_features
    assert res.params_after < res.params_before
    assert res.model(**X).logits.shape == (6, 3)
    # only the heads prunable: one of the three heads goes, in all four layers
    res = prune(model, (X, y), method=method, amount=0.4, rounds=3, arms_per_round=4, batch_size=6,
                calibration_batches=1, ignored_layers=[model.classifier], heads=True, layers=[head.name],
                seed=0, device="cpu")
    att = res.model.bert.encoder.layer[0].attention.self
    assert att.num_attention_heads == 2 and att.query.out_features == 8 and res.n_removed == 1
    assert res.model.bert.encoder.layer[0].attention.output.dense.in_features == 8
    assert res.model(**X).logits.shape == (6, 3)
