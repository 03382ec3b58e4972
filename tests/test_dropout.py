"""SeededDropout: inverted dropout whose masks repeat from run to run under one seed."""
import os
import subprocess
import sys

import mindspore as ms
import numpy as np
import pytest

from src.models import create_model
from src.models.blocks import SeededDropout

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# MindSpore's CPU nn.Dropout repeated its masks for six calls and then drew others: draw more than that
MASKS_OF_ONE_RUN = """
import hashlib
import mindspore as ms
import numpy as np
from src.models.blocks import SeededDropout
ms.set_context(mode=ms.GRAPH_MODE, device_target="CPU")
ms.set_seed(1)
dropout = SeededDropout(0.5)
dropout.set_train(True)
ones = ms.Tensor(np.ones((4, 2048), np.float32))
print(" ".join(hashlib.md5(dropout(ones).asnumpy().tobytes()).hexdigest() for _ in range(10)))
"""


def _masks_of_one_run():
    result = subprocess.run([sys.executable, "-c", MASKS_OF_ONE_RUN], cwd=ROOT, capture_output=True, text=True,
                            timeout=300, check=True)
    return result.stdout.split()


def test_two_runs_with_one_seed_draw_the_same_masks_at_every_call():
    first, second = _masks_of_one_run(), _masks_of_one_run()
    assert len(first) == 10 and first == second
    assert len(set(first)) == 10  # a new mask at every call


def test_drops_p_of_the_elements_and_keeps_the_expectation():
    dropout = SeededDropout(0.3)
    dropout.set_train(True)
    out = dropout(ms.Tensor(np.full((16, 4096), 2.0, np.float32))).asnumpy()
    zeroed = np.mean(out == 0)
    assert abs(zeroed - 0.3) < 0.02  # 65,536 draws: the standard error is 0.002
    np.testing.assert_allclose(out[out != 0], 2.0 / 0.7, rtol=1e-6)


@pytest.mark.parametrize("p, train", [(0.5, False), (0.0, True)])
def test_is_the_identity_at_inference_and_without_dropout(p, train):
    dropout = SeededDropout(p)
    dropout.set_train(train)
    x = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    np.testing.assert_array_equal(dropout(ms.Tensor(x)).asnumpy(), x)


@pytest.mark.parametrize("p", [-0.1, 1.0])
def test_rejects_a_probability_outside_0_to_1(p):
    with pytest.raises(ValueError, match=r"dropout probability must be in \[0, 1\)"):
        SeededDropout(p)


@pytest.mark.parametrize("name", ["i3d", "resnet3d", "tsn"])
def test_recognizers_drop_out_with_it(name):
    net = create_model(name, num_classes=6, dropout_keep_prob=0.5)
    assert isinstance(net.dropout, SeededDropout) and net.dropout.p == 0.5


def test_draws_continue_exactly_from_a_restored_counter():
    from src.losses.bmn_loss import BMNLoss
    from src.models.blocks import CountedUniform
    first = CountedUniform(3, 4)
    draws = [first((2, 5)).asnumpy() for _ in range(4)]
    assert all(0.0 <= d.min() and d.max() < 1.0 for d in draws) and len({d.tobytes() for d in draws}) == 4
    resumed = CountedUniform(3, 4)
    ms.load_param_into_net(resumed, {"draws": ms.Parameter(ms.Tensor(2, ms.int32), name="draws")})
    np.testing.assert_array_equal(resumed((2, 5)).asnumpy(), draws[2])  # the third draw, as the first run's
    # BMN's loss samples its regression targets with one: its counter is saved with a training checkpoint
    assert [name for name, _ in BMNLoss(8).parameters_and_names()] == ["uniform.draws"]
