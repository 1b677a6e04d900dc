"""Synthetic room scenes rendered by ray casting, with labels for all six tasks.

``scene`` draws random scenes, ``render`` ray-casts them into images and labels,
``dataset`` caches them on disk as ``SyntheticDataset``. The class and part tables:

=====  =========  ==========================================================
semseg class      what
=====  =========  ==========================================================
0      floor      the room's floor
1      wall       the room's walls and ceiling
2      box        boxes standing on the floor or on tables
3      sphere     balls
4      cylinder   upright or lying cylinders
5      person     articulated figures (the only class with human_parts)
6      table      a top on four legs, sometimes carrying small objects
7      other      rods with rounded ends; with ``local_structure`` also crates
                  (boxes told from class 2 only by a fine surface relief)
=====  =========  ==========================================================

human_parts: 0 background, 1 head, 2 torso, 3 upper arms, 4 lower arms and hands,
5 upper legs, 6 lower legs and feet. sal is 1 on classes 2-7 (every object) and 0 on
the room.
"""

from atrc_nas.data.synthetic.dataset import (
    DEFAULT_NUM_IMAGES,
    PRESETS,
    VERSION,
    SyntheticDataset,
    cache_root,
    render_sample,
)
from atrc_nas.data.synthetic.scene import CLASS_NAMES, PART_NAMES, SALIENT_CLASSES

__all__ = [
    "CLASS_NAMES",
    "DEFAULT_NUM_IMAGES",
    "PART_NAMES",
    "PRESETS",
    "SALIENT_CLASSES",
    "VERSION",
    "SyntheticDataset",
    "cache_root",
    "render_sample",
]
