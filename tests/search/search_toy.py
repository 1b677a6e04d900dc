"""A toy search problem where only local context can solve one task.

Two tasks of the synthetic NYUD preset: ``semseg`` (class = a bit of channel 1, a
per-pixel task) and ``depth`` (1 + 3 * whether a "dot" of channel 0 lies in the 9x9
window around the pixel). The toy backbone hands the image itself to the head at full
resolution, and the head's own convolutions see 3x3, so only a context block that
looks at a pixel's neighbourhood (local attention) can find the dots; global and label
contexts pool over the whole image.
"""

from __future__ import annotations

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from atrc_nas.data.registry import get_dataset_spec
from atrc_nas.models.space import SearchSpace
from atrc_nas.search.arch import Architecture
from atrc_nas.search.budget import Budget, HeadCostModel
from atrc_nas.search.config import BudgetConfig, SearchOptimConfig
from atrc_nas.search.module import SearchModule
from atrc_nas.search.schedules import Schedule
from atrc_nas.search.supernet import SearchNetwork

TASKS = ("semseg", "depth")
SPEC = get_dataset_spec("synthetic_nyud").with_tasks(TASKS)
SIZE = 24
CHANNELS = 29  # + 3 empty lower-resolution maps: head input 32, C = 8, d = 4
DOT_RATE = 0.012


class ToyBackbone(nn.Module):
    """Returns the image as the stride-"4" map plus three empty coarser maps."""

    out_channels = (CHANNELS, 1, 1, 1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        b, _, h, w = x.shape
        return [x, *(x.new_zeros(b, 1, h // 2 ** i, w // 2 ** i) for i in (1, 2, 3))]


def toy_batch(generator: torch.Generator, batch_size: int = 4) -> dict[str, torch.Tensor]:
    image = torch.randn(batch_size, CHANNELS, SIZE, SIZE, generator=generator) * 0.1
    dots = (torch.rand(batch_size, 1, SIZE, SIZE, generator=generator) < DOT_RATE).float()
    image[:, :1] = dots
    near_dot = F.max_pool2d(dots, 9, stride=1, padding=4)
    classes = (torch.rand(batch_size, SIZE, SIZE, generator=generator) < 0.5).long()
    image[:, 1] = classes.float()
    return {"image": image, "semseg": classes, "depth": 1.0 + 3.0 * near_dot}


def toy_batches(steps: int, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    return [toy_batch(generator) for _ in range(steps)]


def toy_module(*, steps: int, budget: BudgetConfig | None = None, arch_lr: float = 0.02,
               fix_gap: float = 0.3, seed: int = 0) -> SearchModule:
    torch.manual_seed(seed)
    space = SearchSpace.reference(TASKS)
    network = SearchNetwork(ToyBackbone(), SPEC, space)
    arch = Architecture(space, seed=seed)
    # head maps are SIZE x SIZE; the cost model takes the image size of a stride-4 head
    cost_model = HeadCostModel.build(arch, SPEC, network.dims, (4 * SIZE, 4 * SIZE))
    optim = SearchOptimConfig(lr=0.05, max_steps=steps, arch_lr=arch_lr)
    schedule = Schedule(steps, fix_gap=fix_gap)
    return SearchModule(network, arch, SPEC, optim, schedule, cost_model,
                        Budget.resolve(budget or BudgetConfig(), cost_model))


def run_toy(module: SearchModule, steps: int, seed: int = 0) -> SearchModule:
    trainer = pl.Trainer(max_steps=steps, accelerator="cpu", logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, limit_val_batches=0)
    trainer.fit(module, train_dataloaders=DataLoader(toy_batches(steps, seed), batch_size=None))
    return module
