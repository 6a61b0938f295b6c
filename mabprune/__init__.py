"""mabprune: structured neuron pruning with multi-armed bandits.

The reproducible companion of "Structured Neuron Pruning in Deep Neural Networks Using
Multi-Armed Bandits" (Ameen and Vadera, arXiv:2606.07615). Each hidden neuron or conv
channel is an arm; pulling an arm masks it, measures the change in loss on a mini-batch of
the validation split, and feeds a bandit policy that learns which units are safe to remove.
"""

__version__ = "0.1.0"

from .prune import METHODS, PruneResult, prune  # noqa: E402  (the public entry point)

__all__ = ["prune", "PruneResult", "METHODS", "__version__"]
