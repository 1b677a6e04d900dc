"""Dataset fingerprints identify the data: file contents for folders, settings for synthetic."""

import json

import numpy as np
from fixtures import build_nyud

from atrc_nas.data.datamodule import MultiTaskDataModule
from atrc_nas.data.fingerprint import CACHE_FILE, files_digest
from atrc_nas.data.nyud import NYUDDataset
from atrc_nas.data.synthetic import SyntheticDataset


def test_folder_fingerprint_follows_file_contents_and_is_cached(tmp_path):
    root = tmp_path / "NYUDv2"
    build_nyud(root)
    cache = tmp_path / "cache"
    first = NYUDDataset(root, "train").content_fingerprint(cache)
    cached = json.loads((cache / CACHE_FILE).read_text())
    assert len(cached) == 3 * 5 + 1  # 3 samples x (image + 4 labels) + the split list
    assert NYUDDataset(root, "train").content_fingerprint(cache) == first
    assert NYUDDataset(root, "val").content_fingerprint(cache) != first
    depth = root / "depth" / "0002.npy"
    values = np.load(depth)
    values[0, 0] += 1.0  # same size, other bytes
    np.save(depth, values)
    assert NYUDDataset(root, "train").content_fingerprint(cache) != first


def test_files_digest_depends_on_every_byte(tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"1234")
    b.write_bytes(b"5678")
    digest = files_digest([a, b], tmp_path / "c")
    b.write_bytes(b"5679")
    assert files_digest([a, b], tmp_path / "c") != digest


def test_synthetic_fingerprint_is_its_generator_settings(tmp_path):
    def fingerprint(**options):
        return SyntheticDataset(root=tmp_path, num_images=2, image_size=(16, 20),
                                **options).content_fingerprint()

    assert fingerprint() == fingerprint()
    assert fingerprint(seed=1) != fingerprint()
    assert fingerprint(local_structure=True) != fingerprint()


def test_datamodule_fingerprint_changes_with_the_data(tmp_path):
    def fingerprint(**options):
        data = MultiTaskDataModule(dataset="synthetic_nyud", cache_dir=str(tmp_path),
                                   dataset_options={"num_images": 4, "image_size": [16, 20],
                                                    **options})
        return data.fingerprint()

    assert len(fingerprint()) == 16
    assert fingerprint(seed=3) != fingerprint()
