"""Models and training helpers.

:mod:`mabprune.models.core` holds the small models of the tabular protocol and the training
helpers (:func:`mlp`, :func:`small_cnn`, :class:`TextClassifier`, :func:`build_model`,
:func:`fit`, :func:`predict`, :func:`evaluate`); :mod:`mabprune.models.vision` and
:mod:`mabprune.models.text` the deep networks of the deep-learning family (LeNet-5, a
VGG-style CNN, a Siamese network, a hierarchical RNN, ResNet-20; a text CNN, LSTM and BiLSTM
classifiers, a transformer encoder, an end-to-end memory network).
"""

from .core import TextClassifier, build_model, evaluate, fit, mlp, predict, small_cnn
from .text import LSTMClassifier, MemN2N, TextCNN, TransformerClassifier, position_encoding
from .vision import HierarchicalRNN, LeNet5, ResNet20, SiameseNet, VGGNet

__all__ = ["HierarchicalRNN", "LSTMClassifier", "LeNet5", "MemN2N", "ResNet20", "SiameseNet", "TextCNN",
           "TextClassifier", "TransformerClassifier", "VGGNet", "build_model", "evaluate", "fit", "mlp",
           "position_encoding", "predict", "small_cnn"]
