"""The multi-task objective: registry weights on final and aux losses."""

import pytest
import torch

from atrc_nas.data.registry import get_dataset_spec
from atrc_nas.losses import build_loss
from atrc_nas.tasks import TASKS
from atrc_nas.training.objective import MultiTaskObjective

SPEC = get_dataset_spec("synthetic_nyud")
H, W = 4, 5


def _inputs(g: torch.Generator):
    final = {t: torch.randn(2, SPEC.channels(t), H, W, generator=g) for t in SPEC.tasks}
    aux = {t: torch.randn(2, SPEC.channels(t, "aux"), H, W, generator=g)
           for t in ("semseg", "depth", "normals")}
    batch = {
        "semseg": torch.randint(0, SPEC.channels("semseg"), (2, H, W), generator=g),
        "depth": torch.rand(2, 1, H, W, generator=g) * 5 + 0.5,
        "normals": torch.nn.functional.normalize(torch.randn(2, 3, H, W, generator=g), dim=1),
        "edge": (torch.rand(2, 1, H, W, generator=g) < 0.2).float(),
    }
    return {"final": final, "aux": aux}, batch


def test_total_is_weighted_sum_of_final_and_existing_aux_losses():
    g = torch.Generator().manual_seed(0)
    centroids = torch.nn.functional.normalize(torch.randn(SPEC.normals_clusters, 3, generator=g),
                                              dim=1)
    outputs, batch = _inputs(g)
    total, parts = MultiTaskObjective(SPEC, centroids)(outputs, batch)
    expected = {}
    for which in ("final", "aux"):
        for task, pred in outputs[which].items():
            spec = TASKS[task]
            name = spec.loss if which == "final" else spec.aux_loss
            loss = build_loss(name, SPEC, task, normals_centroids=centroids)
            expected[f"{task}/{which}"] = spec.loss_weight * loss(pred, batch[task]).item()
    assert set(parts) == set(expected)  # no edge/aux: the network has no edge aux head
    assert {k: v.item() for k, v in parts.items()} == pytest.approx(expected)
    assert total.item() == pytest.approx(sum(expected.values()))
    assert parts["edge/final"].item() == pytest.approx(
        50 * build_loss("edge_bce", SPEC, "edge")(outputs["final"]["edge"], batch["edge"]).item())


def test_errors_name_the_task():
    outputs, batch = _inputs(torch.Generator().manual_seed(1))
    objective = MultiTaskObjective(SPEC)  # the checks come before any loss
    with pytest.raises(KeyError, match=r"batch lacks the labels of task\(s\) \['edge'\]"):
        objective(outputs, {k: v for k, v in batch.items() if k != "edge"})
    outputs["final"]["sal"] = torch.zeros(2, 2, H, W)
    with pytest.raises(KeyError, match=r"\['sal'\] that dataset 'synthetic_nyud' lacks"):
        objective(outputs, batch)
