"""Spearman of importance rankings with the exact single-unit removal effect (naive engine, whole validation split)
on a small CNN trained on sklearn digits: BanditImportance vs GroupMagnitudeImportance and GroupTaylorImportance."""
import time, numpy as np, torch, torch_pruning as tp
from scipy.stats import spearmanr
from sklearn.datasets import load_digits
from torch import nn
from mabprune.models import small_cnn
from mabprune.arms import find_arms
from mabprune.truth import removal_effects
from mabprune.torch_pruning import BanditImportance
torch.manual_seed(0); torch.set_num_threads(2)
d = load_digits(); X = torch.tensor(d.data, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16; y = torch.tensor(d.target)
perm = torch.randperm(len(X)); tr, va = perm[:1200], perm[1200:]
model = small_cnn((1, 8, 8), 10, channels=(16, 32), hidden=64)
opt = torch.optim.Adam(model.parameters(), 1e-2)
for ep in range(30):
    for i in range(0, 1200, 64):
        b = tr[i:i+64]; opt.zero_grad(); nn.functional.cross_entropy(model(X[b]), y[b]).backward(); opt.step()
model.eval(); Xv, yv = X[va], y[va]
print("val acc", (model(Xv).argmax(1) == yv).float().mean().item(), "n val", len(va))
arms = find_arms(model, Xv[:2]); print("arms", arms.n_arms, [(l.name, l.n_units) for l in arms.layers])
# the ground truth of mabprune.truth, by the naive engine over the whole split in one call
exact = removal_effects(model, (Xv, yv), arms=arms, engine="naive", batch_size=len(Xv),
                        arms_per_chunk=arms.n_arms).effects
dg = tp.DependencyGraph().build_dependency(model, example_inputs=Xv[:2])
def group_of(m):
    fn = tp.prune_conv_out_channels if isinstance(m, nn.Conv2d) else tp.prune_linear_out_channels
    return dg.get_pruning_group(m, fn, idxs=list(range(m.weight.shape[0])))
def scores(imp, grad=False):
    if grad:
        model.zero_grad(); nn.functional.cross_entropy(model(Xv), yv).backward()
    return np.concatenate([imp(group_of(l.module)).detach().numpy() for l in arms.layers])
res = {}
res["GroupMagnitudeImportance"] = scores(tp.importance.GroupMagnitudeImportance(p=2))
res["GroupTaylorImportance"] = scores(tp.importance.GroupTaylorImportance(), grad=True)
for ppa in (None, 1.0, 4.0):
    imp = BanditImportance(data=(Xv, yv), pulls_per_arm=ppa, progress=False, batch_size=64)
    t = time.perf_counter(); s = scores(imp); res[f"BanditImportance pulls_per_arm={imp.pulls_per_arm}"] = s
    print("bandit", imp.pulls_per_arm, "pulls", imp.pulls, "s", round(time.perf_counter() - t, 2))
for k, s in res.items():
    pooled = spearmanr(s, exact).correlation
    per = [spearmanr(s[l.offset:l.offset+l.n_units], exact[l.offset:l.offset+l.n_units]).correlation for l in arms.layers]
    print(f"| {k} | {pooled:.3f} | {np.mean(per):.3f} |")
