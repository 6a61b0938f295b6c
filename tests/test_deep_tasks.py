"""Deep tasks ("<model>@<dataset>", mabprune.study.deep_tasks): names, the data each network takes, the
cache of trained networks, the grid's records and plans, and the notebook on deep tasks."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mabprune.study import deep_tasks
from mabprune.study.runner import run_grid
from mabprune.study.plan import plan_runs
from mabprune.study.profiles import grid_spec

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MABPRUNE_CACHE", str(tmp_path / "cache"))


def test_task_names_are_checked_with_the_reason():
    assert deep_tasks.parse_task("bilstm@text:mr") == ("bilstm", "text:mr")
    for bad, why in (("lenet", "'<model>@<dataset>'"), ("lenett@vision:mnist", "unknown model 'lenett'"),
                     ("lstm@vision:mnist", "takes text datasets"), ("memn2n@text:sst2", "bAbI")):
        with pytest.raises(ValueError, match=why):
            deep_tasks.parse_task(bad)
    with pytest.raises(ValueError, match="unknown dataset in task"):
        grid_spec("deep_learning", "smoke", datasets=["lenet@vision:mnst"])
    with pytest.raises(ValueError, match="deep-learning task"):
        grid_spec("classification", "smoke", datasets=["lenet@vision:mnist"])


def test_siamese_pairs_bag_of_words_and_memories(shared_data):
    ds = deep_tasks.load_task("siamese@vision:mnist", size="tiny", root=shared_data, max_rows=300)
    assert ds.X_train.shape[1:] == (2, 28, 28) and ds.n_classes == 2
    assert 0.3 < ds.y_train.mean() < 0.7  # about half the pairs are same-class
    bow = deep_tasks.load_task("mlp@text:ag_news", size="tiny", root=shared_data, max_rows=300)
    assert bow.X_train.shape[1] == 200 and set(np.unique(bow.X_train)) <= {0.0, 1.0}
    mem = deep_tasks.load_task("memn2n@babi10k:qa1", size="tiny", root=shared_data, max_rows=500)
    m, j = mem.meta["memory_size"], mem.meta["sentence_len"]
    assert mem.X_train.shape[1:] == (m + 1, j) and len(mem.y_test) == 1000 and mem.n_classes == 6
    assert (mem.X_train[:, -1] > 0).any(1).all()  # every row ends with its question
    assert mem.X_train.max() < mem.meta["vocab_size"]


def test_the_cache_reuses_and_never_trusts_a_bad_entry(shared_data, tmp_path):
    task = "lenet@vision:mnist"
    r = deep_tasks.recipe(task, "tiny")
    ds = deep_tasks.load_task(task, size="tiny", root=shared_data, max_rows=r["max_rows"])
    first, info = deep_tasks.train_network(task, ds, r, seed=0)
    again, info2 = deep_tasks.train_network(task, ds, r, seed=0)
    assert not info["cache_hit"] and info2["cache_hit"]
    assert info2["val_accuracy_before"] == info["val_accuracy_before"] and info["model_name"] == "LeNet5"
    for a, b in zip(first.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    other, info3 = deep_tasks.train_network(task, ds, dict(r, epochs=1), seed=0)  # another recipe: another entry
    assert not info3["cache_hit"]
    entries = sorted((tmp_path / "cache").glob("*.pt"))
    assert len(entries) == 2
    for entry in entries:
        entry.write_bytes(entry.read_bytes()[:100])  # truncated
    _, info4 = deep_tasks.train_network(task, ds, r, seed=0)
    assert not info4["cache_hit"] and info4["val_accuracy_before"] == info["val_accuracy_before"]


def test_grid_records_carry_the_network(shared_data, tmp_path):
    spec = grid_spec("deep_learning", "smoke", datasets=["text_cnn@text:mr", "memn2n@babi10k:qa1"],
                     methods=["ucb1", "none"], sweep_methods=[], data_root=str(shared_data))
    df = run_grid(spec, results_dir=tmp_path / "store", progress=False)
    assert (df["status"] == "ok").all() and len(df) == 4
    assert set(df["model_name"]) == {"TextCNN", "MemN2N"}
    assert df["val_accuracy_before"].between(0, 1).all() and df["metric_before"].between(0, 1).all()
    params = df.iloc[0]["params"]
    assert params["model"]["arch"] == "text_cnn" and params["train"]["deep_protocol"] == deep_tasks.DEEP_PROTOCOL
    assert params["train"]["deep_run_protocol"] == deep_tasks.DEEP_RUN_PROTOCOL and params["train"]["clip_norm"] is None
    again = run_grid(spec, results_dir=tmp_path / "store2", progress=False)
    assert again["cache_hit"].all()  # a second store reuses the trained networks


def test_fine_tuning_clips_with_the_recipe_norm_and_differs_only_through_it(shared_data, tmp_path, monkeypatch):
    """Issue 11: fine-tuning after pruning clips gradients with the recipe's ``clip_norm``, as
    training does. Run A clips for real; run B starts from the same cached network and turns the
    clip into a no-op: the networks entering each fine-tuning are equal, A's fine-tuning clipped
    gradients larger than the norm, and the fine-tuned networks differ, while the scores before
    pruning and without fine-tuning are the same."""
    from mabprune import models

    monkeypatch.setitem(deep_tasks.RECIPES["tiny"]["lenet"], "clip_norm", 0.05)  # small: clipping is active
    real_fit, real_clip = models.fit, torch.nn.utils.clip_grad_norm_
    calls, clips = [], []  # per fit call: (clip_norm, weights in, weights out); per clip: (call, max_norm, norm)

    def fit_spy(model, *args, **kw):
        weights_in = [p.detach().clone() for p in model.parameters()]
        calls.append([kw.get("clip_norm"), weights_in, None])
        real_fit(model, *args, **kw)
        calls[-1][2] = [p.detach().clone() for p in model.parameters()]
        return model

    def spied_clip(active):
        def clip(parameters, max_norm, *args, **kw):
            parameters = list(parameters)
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in parameters]))
            clips.append((len(calls) - 1, max_norm, float(norm)))
            return real_clip(parameters, max_norm, *args, **kw) if active else norm
        return clip

    monkeypatch.setattr(models, "fit", fit_spy)
    spec = grid_spec("deep_learning", "smoke", datasets=["lenet@vision:mnist"], methods=["magnitude", "none"],
                     sweep_methods=[], steps=1, data_root=str(shared_data))  # one fine-tuning per run
    runs = {}
    for name, active in (("A", True), ("B", False)):
        calls.clear(), clips.clear()
        monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spied_clip(active))
        df = run_grid(spec, results_dir=tmp_path / name, progress=False).set_index("method")
        assert (df["status"] == "ok").all()
        runs[name] = (df, list(calls), list(clips))
    (a, calls_a, clips_a), (b, calls_b, clips_b) = runs["A"], runs["B"]
    assert not a["cache_hit"].any() and b["cache_hit"].all()  # B trains nothing: its fit calls all fine-tune
    assert a.iloc[0]["params"]["train"]["clip_norm"] == 0.05
    fine_a = calls_a[1:]
    assert len(fine_a) == len(calls_b) >= 2 and all(c[0] == 0.05 for c in calls_a + calls_b)
    assert any(norm > 0.05 for call, m, norm in clips_a if call >= 1 and m == 0.05)  # fine-tuning clipped
    for (_, in_a, out_a), (_, in_b, out_b) in zip(fine_a, calls_b):
        assert all(torch.equal(x, y) for x, y in zip(in_a, in_b))  # the same network enters both
        assert not all(torch.equal(x, y) for x, y in zip(out_a, out_b))  # clipping alone changed it
    for column in ("metric_before", "score_no_ft"):
        assert a[column].tolist() == b[column].tolist()


def test_standard_and_full_plans_name_the_tasks():
    standard = grid_spec("deep_learning", "standard")
    assert "lenet@vision:mnist" in standard.datasets and "memn2n@babi10k:qa1" in standard.datasets
    assert {"resnet20@vision:kmnist", "transformer@text:sst2", "mlp@text:ag_news"} <= set(standard.datasets)
    assert set(standard.datasets) < set(grid_spec("deep_learning", "full").datasets)   # full: every standard task too
    runs = plan_runs(standard)
    lenet = next(r for r in runs if r["dataset"] == "lenet@vision:mnist")
    assert lenet["params"]["model"]["arch"] == "lenet" and lenet["key"].startswith("lenet@vision:mnist|")
    full = grid_spec("deep_learning", "full").datasets
    for task in ("vgg@vision:cifar10", "vgg@vision:cifar100", "vgg@vision:svhn", "lstm@text:imdb", "mlp@text:reuters"):
        assert task in full
    assert deep_tasks.authors_row("vgg@vision:svhn") == "Conv (SVHN)"


@pytest.mark.slow
def test_notebook_on_deep_tasks(shared_data, tmp_path):
    import nbformat
    import papermill as pm

    source = REPO / "notebooks" / "deep_learning.ipynb"
    out = tmp_path / "out.ipynb"
    pm.execute_notebook(str(source), str(out), parameters={
        "profile": "smoke", "datasets": ["lenet@vision:mnist", "lstm@text:sst2"], "results_dir": str(tmp_path / "s"),
        "device": "cpu", "data_root": str(shared_data)}, kernel_name="python3", cwd=str(source.parent),
        progress_bar=False)
    nb = nbformat.read(out, as_version=4)
    text = json.dumps([o for c in nb.cells if c.cell_type == "code" for o in c.outputs])
    assert "LeNet5" in text and "LSTMClassifier" in text
    if (REPO.parent / "shared" / "paper" / "authors" / "deep_learning.csv").is_file():
        assert "LeCun (MNIST)" in text and "LSTM (IMDB)" in text


def test_max_val_rows_moves_the_other_validation_rows_to_training():
    from mabprune.data.dataset import Dataset

    X = np.arange(40, dtype=np.float32).reshape(20, 2)
    y = np.arange(20)
    ds = Dataset("t", "image", "classification", X[:10], y[:10], X[10:16], y[10:16], X[16:], y[16:], 20, {})
    capped = deep_tasks._cap_validation(ds, 4)
    assert len(capped.y_val) == 4 and len(capped.y_train) == 12 and len(capped.y_test) == 4
    assert sorted(np.concatenate([capped.y_train, capped.y_val]).tolist()) == list(range(16))
    assert deep_tasks._cap_validation(capped, 10) is capped   # fewer rows than the cap: unchanged
    with pytest.raises(ValueError, match="max_val_rows.*0"):
        deep_tasks.load_task("lenet@vision:mnist", max_val_rows=0)


def test_max_val_rows_enters_the_keys_only_where_a_recipe_sets_it():
    assert deep_tasks.grid_params("lstm@text:sst2", "standard")["train"]["max_val_rows"] == 2000
    assert "max_val_rows" not in deep_tasks.grid_params("lenet@vision:mnist", "standard")["train"]
    assert "max_val_rows" not in deep_tasks.grid_params("lstm@text:sst2", "quick")["train"]
    assert "max_val_rows" not in deep_tasks.data_params(0.2, 0.2, None)
