import pytest
import torch

from atrc_nas.data.registry import DATASETS, get_dataset_spec
from atrc_nas.data.spec import DatasetSpec
from atrc_nas.tasks import TASKS, get_task


def test_every_dataset_resolves_every_channel_count():
    for spec in (entry.spec for entry in DATASETS.values()):
        for task in spec.tasks:
            assert spec.channels(task, "final") >= 1
            assert spec.channels(task, "aux") >= 2


def test_reference_channel_counts():
    nyud, pascal = get_dataset_spec("nyud"), get_dataset_spec("pascal")
    assert [nyud.channels(t) for t in nyud.tasks] == [40, 1, 3, 1]
    assert [nyud.channels(t, "aux") for t in nyud.tasks] == [40, 40, 40, 2]
    assert [pascal.channels(t) for t in pascal.tasks] == [21, 7, 2, 3, 1]


def test_lookup_errors_list_valid_names():
    with pytest.raises(KeyError, match="known tasks: semseg"):
        get_task("segm")
    with pytest.raises(KeyError, match="valid datasets"):
        get_dataset_spec("cityscapes")
    with pytest.raises(KeyError, match="has no task"):
        get_dataset_spec("nyud").with_tasks(["sal"])
    with pytest.raises(KeyError, match="'sal' is not part of dataset 'nyud'"):
        get_dataset_spec("nyud").channels("sal")
    with pytest.raises(ValueError, match="'final' or 'aux', got 'initial'"):
        get_dataset_spec("nyud").channels("semseg", "initial")
    with pytest.raises(ValueError, match="num_classes lacks task 'semseg'"):
        DatasetSpec(name="x", tasks=("semseg",), num_classes={}, crop_size=(8, 8),
                    edge_pos_weight=0.5, boundary_tolerance=0.01)


def test_valid_masks_follow_the_label_conventions():
    depth = torch.tensor([[[0.0, 1.5, 255.0]]])
    assert get_task("depth").valid_mask(depth).tolist() == [[[False, True, False]]]
    normals = torch.tensor([[0.0, 0.6, 255.0], [0.0, 0.8, 255.0], [0.0, 0.0, 255.0]])
    normals = normals.view(3, 1, 3)
    assert get_task("normals").valid_mask(normals).flatten().tolist() == [False, True, False]
    semseg = torch.tensor([[0, 255, 3]])
    assert get_task("semseg").valid_mask(semseg).tolist() == [[True, False, True]]


def test_outputs():
    logits = torch.randn(2, 3, 4, 5)
    assert TASKS["semseg"].to_output(logits).shape == (2, 4, 5)
    norm = TASKS["normals"].to_output(logits).norm(dim=1)
    assert torch.allclose(norm, torch.ones_like(norm), atol=1e-5)
    sal = TASKS["sal"].to_output(logits[:, :2])
    assert sal.shape == (2, 1, 4, 5) and ((sal >= 0) & (sal <= 1)).all()
    assert (TASKS["depth"].to_output(logits[:, :1]) >= 0).all()
