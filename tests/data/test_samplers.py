import numpy as np
import pytest

from atrc_nas.data.samplers import StepSampler


def test_batches_depend_only_on_the_step():
    sampler = StepSampler(size=10, batch_size=3, steps_per_epoch=4, seed=5)
    # 3 full batches per pass over the data; step 4 is the second batch of data epoch 1
    order = np.random.default_rng((5, 1)).permutation(10)
    assert sampler.batch_keys(4) == [(int(i), 1) for i in order[3:6]]
    sampler.set_epoch(1)  # steps 4..7
    keys = list(sampler)
    assert len(keys) == len(sampler) == 12
    assert keys[:3] == sampler.batch_keys(4) and keys[-3:] == sampler.batch_keys(7)
    data_epoch_1 = [key for step in (3, 4, 5) for key in sampler.batch_keys(step)]
    assert len(set(data_epoch_1)) == 9  # within a data epoch, no repeats


def test_a_resumed_pass_starts_at_the_current_step():
    step = {"now": 6}
    sampler = StepSampler(size=10, batch_size=2, steps_per_epoch=4, seed=0,
                          current_step=lambda: step["now"])
    keys = list(sampler)  # steps 6 and 7: the rest of the period
    assert keys == sampler.batch_keys(6) + sampler.batch_keys(7)
    step["now"] = 8
    assert list(sampler)[:2] == sampler.batch_keys(8)


def test_too_small_a_split_is_refused():
    with pytest.raises(ValueError, match="fewer than one batch"):
        StepSampler(size=2, batch_size=4, steps_per_epoch=1)
