"""BanditImportance with its default budget: torchvision resnet18 at 32x32 (64 samples, two BasePruner steps at
ratio 0.3) and a 1,000-arm MLP; optional argv[1] = pulls_per_arm. Run: PYTHONPATH=. python benchmarks/bandit_importance_budget.py"""
import sys, time, torch, torchvision, torch_pruning as tp, warnings
from torch import nn
from mabprune.torch_pruning import BanditImportance
ppa = float(sys.argv[1]) if len(sys.argv) > 1 else None
torch.manual_seed(0)
m = torchvision.models.resnet18(num_classes=10).eval()
X, y = torch.randn(64, 3, 32, 32), torch.randint(0, 10, (64,))
imp = BanditImportance(data=(X, y), steps=2, pulls_per_arm=ppa)
n0 = sum(p.numel() for p in m.parameters())
pr = tp.pruner.BasePruner(m, X[:2], importance=imp, pruning_ratio=0.3, global_pruning=True, iterative_steps=2, ignored_layers=[m.fc])
t = time.perf_counter()
for _ in range(2): pr.step()
print("resnet18 ppa", imp.pulls_per_arm, "wall", round(time.perf_counter() - t, 1), "pulls", imp.pulls, "params", n0, "->", sum(p.numel() for p in m.parameters()))
torch.manual_seed(0)
mlp = nn.Sequential(nn.Linear(32, 500), nn.ReLU(), nn.Linear(500, 500), nn.ReLU(), nn.Linear(500, 10))
Xm, ym = torch.randn(512, 32), torch.randint(0, 10, (512,))
imp = BanditImportance(data=(Xm, ym), pulls_per_arm=ppa)
pr = tp.pruner.BasePruner(mlp, Xm[:2], importance=imp, pruning_ratio=0.3, global_pruning=True, ignored_layers=[mlp[4]])
t = time.perf_counter(); pr.step()
print("mlp1000 wall", round(time.perf_counter() - t, 2), "pulls", imp.pulls, mlp[0].out_features)
