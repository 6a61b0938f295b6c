"""mabprune: structured neuron pruning with multi-armed bandits.

The reproducible companion of "Structured Neuron Pruning in Deep Neural Networks Using
Multi-Armed Bandits" (Ameen and Vadera, arXiv:2606.07615). Each hidden neuron or conv
channel is an arm; pulling an arm masks it, measures the change in loss on a mini-batch of
the validation split, and feeds a bandit policy that learns which units are safe to remove.

The package is layered; a layer imports only the layers above it in this list:

- ``mabprune`` (this level): the library you use on your own model. :func:`prune` and
  :class:`PruneResult` (:mod:`~mabprune.pruning`), arms and masks (:mod:`~mabprune.arms`,
  :mod:`~mabprune.masks`), the pruning graph and removal (:mod:`~mabprune.graph`,
  :mod:`~mabprune.removal`), the engines that pull arms (:mod:`~mabprune.engine`,
  :mod:`~mabprune.fastpaths`), rewards, baselines, the bandit step, the six policies
  (:mod:`mabprune.policies`), the Torch-Pruning importance (:mod:`mabprune.torch_pruning`) and
  the models of the study (:mod:`mabprune.models`). It needs numpy, torch and torch-pruning only.
- :mod:`mabprune.data`: the datasets of the study and their loaders.
- :mod:`mabprune.study`: profiles, grids, the runner and its results store, the deep tasks.
- :mod:`mabprune.analysis`: the statistics, the claims and the verdict matrix.
- :mod:`mabprune.cli`: the ``mabprune`` command.
"""

__version__ = "0.1.0"

from . import _deprecated  # noqa: E402  (old import paths keep working for one release, with a warning)
from .pruning import METHODS, PruneResult, prune  # noqa: E402  (the public entry point)

__all__ = ["prune", "PruneResult", "METHODS", "__version__"]

_deprecated.install(__name__)
