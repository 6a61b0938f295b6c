"""Draw one residual-stream arm of ResNet-18 (book/figures/residual_arm.png).

Run from the repository root: ``python book/figures/residual_arm.py`` (about 2 s on a CPU).
The layers come from :func:`mabprune.arms.find_arms`, not from a hand-written list.
"""

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
import torchvision

from mabprune.arms import find_arms

model = torchvision.models.resnet18(num_classes=10).eval()
arms = find_arms(model, torch.zeros(2, 3, 32, 32), layers=["conv1"], check=False)
group = arms.layers[0]
order = [n for n, _ in model.named_modules()]
producers = sorted(group.members, key=order.index)
readers = sorted((r.name for r in group.readers), key=order.index)

fig, ax = plt.subplots(figsize=(9, 3.2))
for x, name in enumerate(producers):
    ax.add_patch(plt.Rectangle((x - 0.45, 1.1), 0.9, 0.6, color="#4c78a8"))
    ax.text(x, 1.4, name, ha="center", va="center", color="white", fontsize=7, rotation=0 if len(name) < 8 else 20)
offset = (len(producers) - len(readers)) / 2
for x, name in enumerate(readers):
    ax.add_patch(plt.Rectangle((x + offset - 0.45, -0.3), 0.9, 0.6, color="#f58518"))
    ax.text(x + offset, 0.0, name, ha="center", va="center", color="white", fontsize=6, rotation=20)
ax.annotate("", xy=(len(producers) / 2 - 0.5, 0.35), xytext=(len(producers) / 2 - 0.5, 1.05),
            arrowprops=dict(arrowstyle="->", lw=1.5))
ax.text(len(producers) / 2 - 0.4, 0.7, "channel c of the residual stream (one arm; the mask sits at each reader's input)",
        fontsize=8, va="center")
ax.text(-0.5, 1.85, f"produce channel c (lose an output channel): {len(producers)} layers", fontsize=8)
ax.text(-0.5, -0.55, f"read channel c (lose an input channel, masked here): {len(readers)} layers", fontsize=8)
ax.set_xlim(-0.6, max(len(producers), len(readers)) - 0.4)
ax.set_ylim(-0.7, 2.1)
ax.axis("off")
fig.tight_layout()
fig.savefig("book/figures/residual_arm.png", dpi=150)
