"""Deep-learning tasks: a (model, dataset) pair named ``"<model>@<dataset>"``, its data, its
training recipe, and a cache of trained networks.

A task such as ``"lenet@vision:mnist"`` or ``"memn2n@babi10k:qa1"`` names one network of
:mod:`mabprune.models` and one registry dataset of :mod:`mabprune.data`. :func:`load_task`
builds the arrays the network takes (image pairs for the Siamese network, bag-of-words rows
for the MLP, story/question tensors for the memory network), :func:`recipe` gives the widths,
epochs and learning rate at a size (``tiny``, ``standard``, ``full``), and
:func:`train_network` trains it, or reloads it from the cache when everything that
determines it (task, data, recipe, seed, :data:`DEEP_PROTOCOL`) is the same.

The cache is a folder of ``<hash>.pt`` files (``MABPRUNE_CACHE`` or ``.cache/networks`` at
the repository root, git-ignored). An entry is used only when it loads, its recorded
parameters equal the requested ones and its state dict fits the network exactly; anything
else is retrained and rewritten.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch import nn

from mabprune import data, models
from mabprune.data.babi import BABI_TASKS, read_babi
from mabprune.data.dataset import Dataset, download_allowed
from mabprune.study.paths import repo_root

__all__ = ["DEEP_MODELS", "DEEP_PROTOCOL", "DEEP_RUN_PROTOCOL", "RECIPES", "cache_dir", "data_params", "is_task",
           "load_task", "parse_task", "recipe", "authors_row", "build_network", "grid_params", "load_cell",
           "train_cell", "train_network"]

#: Bumped when training or data building changes what a cached network is (in the cache key
#: and in every deep task's record key).
DEEP_PROTOCOL = 1
#: Bumped when what a grid run does with a trained network changes, but not the network: in the
#: record keys of deep tasks only, so cached networks stay valid. 2: fine-tuning after pruning
#: clips gradients with the recipe's ``clip_norm``, as training does (issue 11).
DEEP_RUN_PROTOCOL = 2
#: model -> (input kind, class name, data families it takes, what it follows)
DEEP_MODELS = {
    "lenet": ("image", "LeNet5", ("image",), "LeNet-5 (LeCun et al. 1998)"),
    "vgg": ("image", "VGGNet", ("image",), "the Keras CIFAR-10 CNN"),
    "siamese": ("pairs", "SiameseNet", ("image",), "the Keras MNIST Siamese network (pair classification)"),
    "hrnn": ("image", "HierarchicalRNN", ("image",), "the Keras MNIST hierarchical RNN"),
    "resnet20": ("image", "ResNet20", ("image",), "ResNet-20 (He et al. 2016)"),
    "text_cnn": ("text", "TextCNN", ("text",), "the Keras IMDB CNN / Kim (2014)"),
    "lstm": ("text", "LSTMClassifier", ("text",), "the Keras IMDB LSTM"),
    "bilstm": ("text", "LSTMClassifier", ("text",), "the Keras IMDB bidirectional LSTM"),
    "transformer": ("text", "TransformerClassifier", ("text",), "a transformer encoder (Vaswani et al. 2017)"),
    "mlp": ("bow", "Sequential", ("text",), "the Keras Reuters MLP (bag of words)"),
    "memn2n": ("memory", "MemN2N", ("reasoning",), "end-to-end memory network (Sukhbaatar et al. 2015)"),
}
_T = dict(weight_decay=0.0, max_rows=None)
#: size -> model -> recipe: ``arch`` (constructor keywords), ``epochs``, ``lr``, ``batch_size``,
#: ``weight_decay``, ``max_rows`` (rows loaded before the split; ``None``: all) and, optionally,
#: ``max_val_rows`` (the validation split, which the rewards and the exact ranking read, keeps
#: this many rows; the others join the training split).
RECIPES: dict[str, dict[str, dict[str, Any]]] = {
    "tiny": {  # the tests and the quick profile: seconds
        "lenet": dict(_T, arch=dict(channels=(4, 8), hidden=(16, 12)), epochs=2, lr=2e-3, batch_size=32, max_rows=400),
        "vgg": dict(_T, arch=dict(channels=(4, 8), hidden=16), epochs=2, lr=2e-3, batch_size=32, max_rows=400),
        "siamese": dict(_T, arch=dict(hidden=(16, 16), head=8), epochs=2, lr=2e-3, batch_size=32, max_rows=400),
        "hrnn": dict(_T, arch=dict(row_hidden=8, col_hidden=8, hidden=8), epochs=2, lr=5e-3, batch_size=32,
                     max_rows=400),
        "resnet20": dict(_T, arch=dict(widths=(4, 8, 8), blocks=1, hidden=8), epochs=2, lr=2e-3, batch_size=32,
                         max_rows=400),
        "text_cnn": dict(_T, arch=dict(embed_dim=16, filters=16, hidden=16), epochs=2, lr=5e-3, batch_size=32,
                         max_rows=400),
        "lstm": dict(_T, arch=dict(embed_dim=16, lstm=16, hidden=16), epochs=2, lr=5e-3, batch_size=32, max_rows=400),
        "bilstm": dict(_T, arch=dict(embed_dim=16, lstm=16, hidden=16, bidirectional=True), epochs=2, lr=5e-3,
                       batch_size=32, max_rows=400),
        "transformer": dict(_T, arch=dict(d_model=16, heads=2, ff=32, layers=1, hidden=16), epochs=2, lr=2e-3,
                            batch_size=32, max_rows=400),
        "mlp": dict(_T, arch=dict(words=200, hidden=(32,), dropout=0.0), epochs=5, lr=2e-3, batch_size=32,
                    max_rows=400),
        "memn2n": dict(_T, arch=dict(dim=16, hops=3, memory_size=20, hidden=16), epochs=5, lr=1e-2, batch_size=32,
                       max_rows=400),
    },
    "standard": {  # 2 CPU cores: see results/deep_training.json for the accuracies these reach
        "lenet": dict(_T, arch=dict(channels=(6, 16), hidden=(120, 84)), epochs=10, lr=1e-3, batch_size=64),
        "vgg": dict(_T, arch=dict(channels=(16, 32), hidden=128), epochs=8, lr=1e-3, batch_size=64),
        "siamese": dict(_T, arch=dict(hidden=(128, 128, 64), head=64), epochs=20, lr=1e-3, batch_size=64),
        # Without clipping the pixel LSTM ends at chance (0.11) after 12-16 epochs on 6,000 images.
        "hrnn": dict(_T, arch=dict(row_hidden=32, col_hidden=32, hidden=64), epochs=20, lr=2e-3, batch_size=32,
                     clip_norm=1.0),
        "resnet20": dict(_T, arch=dict(widths=(8, 16, 32), blocks=3, hidden=32), epochs=5, lr=2e-3, batch_size=64,
                         max_rows=5000),
        # All of SST-2's 67k training phrases: on a 12k subsample the LSTM reaches 0.73 on the dev set.
        # A selection split of 2,000 phrases (the rest of the validation fifth joins training): the
        # exact removal effect of every LSTM unit on 13,470 phrases would cost 27,000 pulls a step.
        "text_cnn": dict(_T, arch=dict(embed_dim=64, filters=64, hidden=64), epochs=2, lr=2e-3, batch_size=64,
                         max_val_rows=2000),
        "lstm": dict(_T, arch=dict(embed_dim=64, lstm=64, hidden=64), epochs=2, lr=3e-3, batch_size=64,
                     max_val_rows=2000),
        "bilstm": dict(_T, arch=dict(embed_dim=64, lstm=64, hidden=64, bidirectional=True), epochs=2, lr=3e-3,
                       batch_size=64, max_val_rows=2000),
        "transformer": dict(_T, arch=dict(d_model=64, heads=4, ff=128, layers=2, hidden=64), epochs=2, lr=1e-3,
                            batch_size=64, max_val_rows=2000),
        "mlp": dict(_T, arch=dict(words=2000, hidden=(256,), dropout=0.5), epochs=8, lr=1e-3, batch_size=64),
        "memn2n": dict(_T, arch=dict(dim=32, hops=3, memory_size=50, hidden=64), epochs=20, lr=5e-3, batch_size=64),
    },
}
# The full profile (one GPU): the standard recipes on all rows, twice the epochs.
RECIPES["full"] = {m: dict(r, epochs=2 * r["epochs"], max_rows=None) for m, r in RECIPES["standard"].items()}


def is_task(name) -> bool:
    """Whether ``name`` is a deep task name ``"<model>@<dataset>"``.

    Examples
    --------
    >>> is_task("lenet@vision:mnist"), is_task("vision:mnist")
    (True, False)
    """
    return isinstance(name, str) and "@" in name


def parse_task(name: str) -> tuple[str, str]:
    """``(model, dataset)`` of a task name, validated against :data:`DEEP_MODELS`.

    Examples
    --------
    >>> parse_task("memn2n@babi10k:qa1")
    ('memn2n', 'babi10k:qa1')
    """
    model, sep, dataset = str(name).partition("@")
    if not sep or not dataset:
        raise ValueError(f"a deep task is named '<model>@<dataset>', got {name!r}")
    if model not in DEEP_MODELS:
        raise ValueError(f"unknown model {model!r} in task {name!r}; models: {', '.join(DEEP_MODELS)}")
    families = DEEP_MODELS[model][2]
    if model == "memn2n" and not dataset.startswith(("babi:", "babi10k:")):
        raise ValueError(f"task {name!r}: the memory network takes bAbI tasks (babi:qaN, babi10k:qaN)")
    elif model != "memn2n" and not dataset.startswith({"image": "vision:", "text": "text:"}[families[0]]):
        raise ValueError(f"task {name!r}: {model} takes {families[0]} datasets, not {dataset!r}")
    return model, dataset


def recipe(name: str, size: str = "standard") -> dict[str, Any]:
    """The training recipe of task ``name`` at ``size`` (a copy of :data:`RECIPES`)."""
    model, _ = parse_task(name)
    if size not in RECIPES:
        raise ValueError(f"unknown size {size!r}; sizes: {', '.join(RECIPES)}")
    return copy.deepcopy(RECIPES[size][model])


# ----------------------------------------------------------------------------- data


def _pairs(X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One pair per image: with a same-class partner for half of them, else a different-class
    one (chosen at random within the split). Label 1 = same class."""
    same = rng.random(len(y)) < 0.5
    by_class = {c: np.flatnonzero(y == c) for c in np.unique(y)}
    partner = np.empty(len(y), dtype=np.int64)
    for i, c in enumerate(y):
        pool = by_class[c] if same[i] or len(by_class) == 1 else np.flatnonzero(y != c)
        partner[i] = rng.choice(pool)
    pairs = np.stack([X[:, 0], X[partner, 0]], axis=1)  # (N, 2, H, W): channel 0 of both images
    return pairs.astype(np.float32), (y == y[partner]).astype(np.int64)


def _bag_of_words(ds: Dataset, words: int) -> list[np.ndarray]:
    """Multi-hot rows over the ``words`` most frequent training tokens (Keras' Reuters MLP
    input, ``Tokenizer.sequences_to_matrix(mode="binary")``)."""
    counts = np.bincount(ds.X_train.ravel(), minlength=int(ds.meta["vocab_size"]))
    counts[:2] = 0  # padding and unknown are not words
    keep = np.argsort(-counts, kind="stable")[:words]
    column = np.full(len(counts), -1)
    column[keep] = np.arange(len(keep))
    out = []
    for X in (ds.X_train, ds.X_val, ds.X_test):
        m = np.zeros((len(X), len(keep)), np.float32)
        rows, pos = np.nonzero(column[X] >= 0)
        m[rows, column[X[rows, pos]]] = 1.0
        out.append(m)
    return out


def _memory_tensors(samples, vocab: dict, memory_size: int, sentence_len: int) -> np.ndarray:
    """``(N, memory_size + 1, sentence_len)`` ids: the latest ``memory_size`` sentences, oldest
    first, then the question; unknown words are dropped, long sentences cut."""
    out = np.zeros((len(samples), memory_size + 1, sentence_len), np.int64)
    for i, (story, question, _) in enumerate(samples):
        story = story[-memory_size:]
        for k, sentence in enumerate(story):
            ids = [vocab[w] for w in sentence if w in vocab][:sentence_len]
            out[i, k, : len(ids)] = ids
        ids = [vocab[w] for w in question if w in vocab][:sentence_len]
        out[i, -1, : len(ids)] = ids
    return out


def _load_babi(dataset: str, root, seed: int, val_size: float, max_rows, memory_size: int) -> Dataset:
    prefix, _, key = dataset.partition(":")
    task = int(key[2:])

    root = data.data_root(root)
    train, test, source = read_babi(task, root, ten_k=prefix == "babi10k", download=download_allowed(None))
    answers = sorted({s[2] for s in train} | {s[2] for s in test})
    notes = []
    pool = np.arange(len(train))
    y_pool = np.array([answers.index(s[2]) for s in train])
    y_test = np.array([answers.index(s[2]) for s in test])
    if max_rows is not None and max_rows < len(train):
        pool = np.sort(train_test_split(pool, train_size=max_rows, random_state=seed)[0])
        notes.append(f"subsampled to {max_rows} of {len(train)} training questions")
    try:
        tr, va = train_test_split(pool, test_size=val_size, random_state=seed, stratify=y_pool[pool])
    except ValueError:
        tr, va = train_test_split(pool, test_size=val_size, random_state=seed)
    tr, va = np.sort(tr), np.sort(va)
    words = sorted({w for i in tr for sent in train[i][0] for w in sent} | {w for i in tr for w in train[i][1]})
    vocab = {w: j + 1 for j, w in enumerate(words)}  # 0 = padding
    sentence_len = max(len(s) for i in tr for s in (*train[i][0], train[i][1]))
    make = lambda idx, src: _memory_tensors([src[i] for i in idx], vocab, memory_size, sentence_len)  # noqa: E731
    meta = {"source": source, "task_name": BABI_TASKS[task - 1], "classes": answers, "split": "official test",
            "vocab_size": len(vocab) + 1, "memory_size": memory_size, "sentence_len": sentence_len, "seed": seed,
            "note": "; ".join(notes)}
    return Dataset(dataset, "reasoning", "classification", make(tr, train), y_pool[tr], make(va, train),
                   y_pool[va], make(np.arange(len(test)), test), y_test, len(answers), meta)


def load_task(name: str, *, size: str = "standard", root=None, seed: int = 0, val_size: float = 0.2,
              test_size: float = 0.2, max_rows: int | None = None, max_val_rows: int | None = None) -> Dataset:
    """The data of task ``name`` as its network takes it, split three ways.

    Parameters
    ----------
    name : str
        ``"<model>@<dataset>"``.
    size : str, default="standard"
        Recipe size (the memory network's memory and the MLP's words depend on it).
    root, seed, val_size, test_size, max_rows
        As in :func:`mabprune.data.load` (``max_rows``: rows before the split).
    max_val_rows : int, optional
        Keep this many rows of the validation split (the first of its shuffled rows); the
        others join the training split. None: all.

    Returns
    -------
    Dataset
        Image models: the images; ``siamese``: ``(N, 2, H, W)`` pairs, label 1 = same class;
        text models: token ids; ``mlp``: multi-hot rows; ``memn2n``: ``(N, M + 1, J)`` ids.

    Examples
    --------
    >>> ds = load_task("siamese@vision:mnist", max_rows=200)  # doctest: +SKIP
    >>> ds.X_train.shape[1:], ds.n_classes  # doctest: +SKIP
    ((2, 28, 28), 2)
    """
    model, dataset = parse_task(name)
    kind = DEEP_MODELS[model][0]
    arch = recipe(name, size)["arch"]
    if max_val_rows is not None and (isinstance(max_val_rows, bool) or not isinstance(max_val_rows, int)
                                     or max_val_rows < 1):
        raise ValueError(f"max_val_rows must be a positive integer or None, got {max_val_rows!r}")
    if kind == "memory":
        return _cap_validation(_load_babi(dataset, root, seed, val_size, max_rows, arch["memory_size"]), max_val_rows)
    ds = _cap_validation(data.load(dataset, root=root, seed=seed, val_size=val_size, test_size=test_size,
                                   max_rows=max_rows), max_val_rows)
    if kind == "pairs":
        rng = np.random.default_rng(seed)
        parts = [_pairs(X, y, rng) for X, y in ((ds.X_train, ds.y_train), (ds.X_val, ds.y_val), (ds.X_test, ds.y_test))]
        meta = dict(ds.meta, classes=["different", "same"], pairs="one pair per image, half same-class, within each split")
        return Dataset(name, ds.family, "classification", *parts[0], *parts[1], *parts[2], 2, meta)
    if kind == "bow":
        X_tr, X_va, X_te = _bag_of_words(ds, arch["words"])
        return Dataset(name, ds.family, ds.task, X_tr, ds.y_train, X_va, ds.y_val, X_te, ds.y_test, ds.n_classes,
                       dict(ds.meta, features=f"multi-hot over the {X_tr.shape[1]} most frequent training words"))
    ds.name = name
    return ds


def _cap_validation(ds: Dataset, max_val_rows: int | None) -> Dataset:
    """``ds`` with its validation split cut to ``max_val_rows`` rows, the rest moved to training."""
    if max_val_rows is None or len(ds.y_val) <= max_val_rows:
        return ds
    ds.X_train = np.concatenate([ds.X_train, ds.X_val[max_val_rows:]])
    ds.y_train = np.concatenate([ds.y_train, ds.y_val[max_val_rows:]])
    ds.X_val, ds.y_val = ds.X_val[:max_val_rows], ds.y_val[:max_val_rows]
    ds.meta = dict(ds.meta, selection_rows=f"the validation split keeps {max_val_rows} rows; the others joined training")
    return ds


# ----------------------------------------------------------------------------- networks


def build_network(name: str, ds: Dataset, arch: dict, *, seed: int = 0) -> nn.Module:
    """The network of task ``name`` for the data ``ds`` (from :func:`load_task`), seeded."""
    model, _ = parse_task(name)
    torch.manual_seed(seed)
    n = int(ds.n_classes)
    kw = dict(arch)
    if model == "siamese":
        return models.SiameseNet(ds.input_shape[1:], **kw)
    if model == "mlp":
        kw.pop("words")
        return models.mlp(int(ds.input_shape[0]), n, **kw)
    if model == "memn2n":
        return models.MemN2N(int(ds.meta["vocab_size"]), n, sentence_len=int(ds.meta["sentence_len"]), **kw)
    cls = getattr(models, DEEP_MODELS[model][1])
    if DEEP_MODELS[model][0] == "image":
        return cls(ds.input_shape, n, **kw)
    if model == "transformer":
        kw.setdefault("max_len", int(ds.input_shape[0]))
    return cls(int(ds.meta["vocab_size"]), n, **kw)


def cache_dir(path=None) -> Path:
    """The network cache: ``path``, else ``MABPRUNE_CACHE``, else ``.cache/networks`` at the repository root."""
    if path is not None:
        return Path(path)
    if os.environ.get("MABPRUNE_CACHE"):
        return Path(os.environ["MABPRUNE_CACHE"])
    return repo_root() / ".cache" / "networks"


def _key(name: str, ds: Dataset, r: dict, seed: int, data_params: dict) -> dict:
    return {"deep_protocol": DEEP_PROTOCOL, "task": name, "seed": int(seed), "recipe": r, "data": data_params,
            "sizes": [len(ds.y_train), len(ds.y_val), len(ds.y_test)]}


def _load_cached(path: Path, key: dict, model: nn.Module):
    """The cached entry if it is sound and was made with exactly ``key``, else None."""
    try:
        entry = torch.load(path, map_location="cpu", weights_only=True)
        if json.loads(entry["key"]) != json.loads(json.dumps(key, default=list)):
            return None
        model.load_state_dict(entry["state_dict"], strict=True)
        return json.loads(entry["info"])
    except Exception:  # noqa: BLE001 - missing, truncated, foreign or stale: retrain
        return None


def train_network(name: str, ds: Dataset, r: dict, *, seed: int = 0, device: str = "cpu", data_params: dict | None = None,
                  cache: str | os.PathLike | None | bool = None) -> tuple[nn.Module, dict]:
    """Train the network of task ``name`` on ``ds`` with recipe ``r``, or reload it from the cache.

    Parameters
    ----------
    name : str
        Task name.
    ds : Dataset
        From :func:`load_task`.
    r : dict
        From :func:`recipe`.
    seed : int, default=0
    device : str, default="cpu"
    data_params : dict, optional
        What determined ``ds`` (split fractions, ``max_rows``, data root's content is assumed
        fixed); part of the cache key.
    cache : path, None or False
        The cache folder (see :func:`cache_dir`); ``False``: no cache.

    Returns
    -------
    (nn.Module, dict)
        The trained network in eval mode, and ``info``: ``model``, ``model_name``,
        ``val_accuracy_before``, ``train_accuracy_before``, ``network_train_time_s`` (of the
        training that made it), ``n_params``, ``cache_hit``.
    """
    model = build_network(name, ds, r["arch"], seed=seed)
    key = _key(name, ds, r, seed, data_params or {})
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=list).encode()).hexdigest()[:20]
    path = None if cache is False else cache_dir(cache or None) / f"{digest}.pt"
    if path is not None and path.exists():
        info = _load_cached(path, key, model)
        if info is not None:
            return model.to(device).eval(), dict(info, cache_hit=True)
        model = build_network(name, ds, r["arch"], seed=seed)  # a half-loaded entry must not leak in
    t0 = time.perf_counter()
    models.fit(model, ds.X_train, ds.y_train, epochs=r["epochs"], lr=r["lr"], batch_size=r["batch_size"],
               weight_decay=r["weight_decay"], seed=seed, device=device, clip_norm=r.get("clip_norm"))
    info = {"model": parse_task(name)[0], "model_name": type(model).__name__ if parse_task(name)[0] != "mlp" else "MLP",
            "network_train_time_s": time.perf_counter() - t0,
            "val_accuracy_before": models.evaluate(model, ds.X_val, ds.y_val),
            "train_accuracy_before": models.evaluate(model, ds.X_train[:5000], ds.y_train[:5000]),
            "n_params": int(sum(p.numel() for p in model.parameters()))}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        torch.save({"key": json.dumps(key, default=list), "info": json.dumps(info), "state_dict": state}, tmp)
        os.replace(tmp, path)  # atomic: a killed run leaves no half-written entry under the name
    return model.eval(), dict(info, cache_hit=False)


def data_params(val_size: float, test_size: float, max_rows: int | None, max_val_rows: int | None = None) -> dict:
    """The data part of a cache key: what, beside the task and seed, determines the splits."""
    out = {"val_size": float(val_size), "test_size": float(test_size), "max_rows": max_rows}
    return out if max_val_rows is None else {**out, "max_val_rows": max_val_rows}


#: Recipe size of each profile (smoke and quick run deep tasks only when asked, at tiny size).
SIZE_OF_PROFILE = {"smoke": "tiny", "quick": "tiny", "standard": "standard", "full": "full"}


def grid_params(name: str, profile: str) -> dict:
    """The parts of a grid run's parameters that task ``name`` fixes at ``profile``: ``model``,
    ``train`` and the data's ``max_rows`` (see :func:`mabprune.study.plan.plan_runs`)."""
    r = recipe(name, SIZE_OF_PROFILE[profile])
    train = {"epochs": r["epochs"], "lr": r["lr"], "batch_size": r["batch_size"], "weight_decay": r["weight_decay"],
             "clip_norm": r.get("clip_norm"), "deep_protocol": DEEP_PROTOCOL, "deep_run_protocol": DEEP_RUN_PROTOCOL}
    if r.get("max_val_rows") is not None:   # only where set, so that the keys of the other recipes stay
        train["max_val_rows"] = r["max_val_rows"]
    return {"model": {"arch": parse_task(name)[0], **r["arch"]}, "max_rows": r["max_rows"], "train": train}


def load_cell(name: str, spec: dict, seed: int) -> tuple[Dataset, dict]:
    """A grid cell's data and training settings: ``(ds, t)``, ``t`` in the profile's training
    format (``epochs``, ``lr``, ``train_batch_size``, ``weight_decay``, ``max_rows``) plus ``recipe``."""
    r = recipe(name, SIZE_OF_PROFILE[spec["profile"]])
    ds = load_task(name, size=SIZE_OF_PROFILE[spec["profile"]], root=spec["data_root"], seed=seed,
                   val_size=spec["val_size"], test_size=spec["test_size"], max_rows=r["max_rows"],
                   max_val_rows=r.get("max_val_rows"))
    t = {"epochs": r["epochs"], "lr": r["lr"], "train_batch_size": r["batch_size"], "weight_decay": r["weight_decay"],
         "max_rows": r["max_rows"], "hidden": None, "recipe": r}
    return ds, t


def train_cell(name: str, ds: Dataset, t: dict, spec: dict, seed: int, device: str) -> tuple[nn.Module, dict]:
    """The trained (or cached) network of a grid cell and the fields it adds to every record."""
    return train_network(name, ds, t["recipe"], seed=seed, device=device,
                         data_params=data_params(spec["val_size"], spec["test_size"], t["max_rows"],
                                                 t["recipe"].get("max_val_rows")))


#: The row of the authors' deep-learning table (``book/authors/deep_learning.csv``)
#: that a task corresponds to: same kind of model on the original or a stand-in dataset.
AUTHORS_ROWS = {"lenet": "LeCun (MNIST)", "siamese": "Siamese Graph (MNIST)", "hrnn": "Hierar. RNN (MNIST)",
                "text_cnn": "Conv (IMDB)", "lstm": "LSTM (IMDB)", "bilstm": "Bi. LSTM_1 (IMDB)",
                "mlp": "MLP (Reuters)", "memn2n": "EtoE Mem (bAbI)"}
_AUTHORS_VGG = {"vision:cifar10": "Conv (Cifar10)", "vision:cifar100": "Conv (Cifar100)", "vision:svhn": "Conv (SVHN)"}


def authors_row(name: str) -> str | None:
    """The authors' row for task ``name``, or None (ResNet-20 and the transformer have none).

    Examples
    --------
    >>> authors_row("lstm@text:sst2"), authors_row("resnet20@vision:mnist")
    ('LSTM (IMDB)', None)
    """
    model, dataset = parse_task(name)
    return _AUTHORS_VGG.get(dataset) if model == "vgg" else AUTHORS_ROWS.get(model)
