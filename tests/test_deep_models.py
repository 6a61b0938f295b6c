"""The deep networks of the deep-learning family at tiny sizes: forward, arms found (hidden
Linear/Conv layers, LSTM units), masked == removed for channels of every group, batched == naive, and
one `prune` run that returns a smaller working model."""


import pytest
import torch

from mabprune import models, prune
from mabprune.arms import find_arms
from tests.nets import _randomise_batchnorm, assert_engines_agree, assert_masked_equals_removed, sample_arms

torch.set_num_threads(1)


def _tokens(n, s=10, vocab=40):
    return torch.randint(1, vocab, (n, s))


def _memory(n):
    x = torch.randint(0, 30, (n, 5, 6))
    x[:, 0] = 0  # an empty memory slot
    return x


#: name -> (build, inputs(n), n_classes, layers that must be arms)
TINY = {
    "lenet": (lambda: models.LeNet5((1, 28, 28), 10, channels=(3, 4), hidden=(6, 5)),
              lambda n: torch.randn(n, 1, 28, 28), 10, {"features.0", "features.3", "classifier.1", "classifier.3"}),
    "vgg": (lambda: models.VGGNet((3, 16, 16), 10, channels=(4, 6), hidden=8),
            lambda n: torch.randn(n, 3, 16, 16), 10, {"features.0", "features.2", "classifier.1"}),
    "siamese": (lambda: models.SiameseNet((8, 8), hidden=(10, 8, 6), head=5),
                lambda n: torch.randn(n, 2, 8, 8), 2, {"encoder.1", "encoder.3", "head.0"}),
    "hrnn": (lambda: models.HierarchicalRNN((1, 8, 8), 10, row_hidden=5, col_hidden=6, hidden=7),
             lambda n: torch.randn(n, 1, 8, 8), 10, {"rows", "cols", "dense"}),
    "resnet20": (lambda: models.ResNet20((1, 12, 12), 10, widths=(4, 6, 8), blocks=1, hidden=6),
                 lambda n: torch.randn(n, 1, 12, 12), 10, {"stages.0.conv1", "stages.1.conv1", "dense"}),
    "text_cnn": (lambda: models.TextCNN(40, 2, embed_dim=8, filters=6, hidden=5),
                 lambda n: _tokens(n), 2, {"conv", "dense"}),
    "lstm": (lambda: models.LSTMClassifier(40, 2, embed_dim=8, lstm=6, hidden=5),
             lambda n: _tokens(n), 2, {"lstm", "dense"}),
    "bilstm": (lambda: models.LSTMClassifier(40, 2, embed_dim=8, lstm=6, hidden=5, bidirectional=True),
               lambda n: _tokens(n), 2, {"lstm", "dense"}),
    "transformer": (lambda: models.TransformerClassifier(40, 2, d_model=8, heads=2, ff=12, hidden=5, max_len=10,
                                                         dropout=0.0),
                    lambda n: _tokens(n), 2, {"encoder.layers.0.linear1", "dense"}),
    "memn2n": (lambda: models.MemN2N(30, 5, dim=8, hops=3, memory_size=4, sentence_len=6, hidden=7),
               _memory, 5, {"dense"}),
}
NAMES = list(TINY)


def _data(name, n=12):
    make, inputs, n_classes, _ = TINY[name]
    torch.manual_seed(0)
    model = _randomise_batchnorm(make()).eval()
    torch.manual_seed(1)
    return model, inputs(n), torch.randint(0, n_classes, (n,))


@pytest.mark.parametrize("name", NAMES)
def test_forward_and_arms(name):
    model, X, _ = _data(name)
    n_classes = TINY[name][2]
    assert model(X).shape == (len(X), n_classes)
    arms = find_arms(model, X[:2])  # raises if a chosen group's mask differs from its removal
    names = {layer.name for layer in arms.layers} | {m for layer in arms.layers for m in layer.members}
    assert TINY[name][3] <= names, (sorted(names), arms.rejected)


@pytest.mark.parametrize("name", NAMES)
def test_masked_equals_removed_and_batched_equals_naive(name):
    model, X, y = _data(name)
    example = X[:2]
    arms = find_arms(model, example)
    assert_masked_equals_removed(model, arms, X, example, sample_arms(arms, per_group=2))
    assert_engines_agree(model, arms, sample_arms(arms, per_group=2, seed=1), X, y)


@pytest.mark.parametrize("name", NAMES)
def test_prune_returns_a_smaller_working_model(name):
    model, X, y = _data(name, n=16)
    result = prune(model, (X, y), method="ucb1", amount=0.3, rounds=2, arms_per_round=8, batch_size=8, device="cpu")
    assert result.params_after < result.params_before
    with torch.no_grad():
        out = result.model(X)
    assert out.shape == model(X).shape and torch.isfinite(out).all()


def test_bad_shapes_are_rejected_with_the_value():
    with pytest.raises(ValueError, match="too small"):
        models.LeNet5((1, 8, 8))
    with pytest.raises(ValueError, match="pairs of shape"):
        models.SiameseNet((8, 8))(torch.zeros(2, 1, 8, 8))
    with pytest.raises(ValueError, match="divisible"):
        models.TransformerClassifier(10, 2, d_model=6, heads=4)
    with pytest.raises(ValueError, match=r"\(B, 5, 6\)"):
        models.MemN2N(30, 5, memory_size=4, sentence_len=6)(torch.zeros(2, 4, 6, dtype=torch.long))


def test_position_encoding_matches_the_paper_formula():
    pe = models.position_encoding(4, 3)
    j, k = 2, 3  # 1-based word 2 of 4, dimension 3 of 3
    assert pe[j - 1, k - 1].item() == pytest.approx((1 - j / 4) - (k / 3) * (1 - 2 * j / 4))
