"""The Features cell: a recognizer's pooled features, as feature extraction and the benchmarks use them."""
import mindspore as ms
import numpy as np
import pytest

from src.models import create_model
from src.models.features import Features

CASES = {  # model: (builder keywords, a small input in its layout)
    "i3d": ({"in_channels": 2}, (2, 2, 8, 32, 32)),
    "resnet3d": ({"model_depth": 10}, (2, 3, 4, 32, 32)),
    "tsn": ({"depth": 18, "num_segments": 2}, (2, 2, 3, 32, 32)),
}


@pytest.mark.parametrize("model", sorted(CASES))
def test_features_are_the_pooled_features_the_classifier_reads(model):
    kwargs, shape = CASES[model]
    net = create_model(model, num_classes=5, **kwargs)
    net.set_train(False)
    features = Features(net)
    features.set_train(False)
    x = ms.Tensor(np.random.default_rng(0).normal(size=shape).astype(np.float32))
    out = features(x).asnumpy()
    assert out.shape == (shape[0], net.num_features) and features.num_features == net.num_features
    np.testing.assert_allclose(out, net.forward_features(x).asnumpy(), rtol=1e-5, atol=1e-6)
    shared = zip(features.trainable_params(), net.trainable_params())
    assert len(features.trainable_params()) == len(net.trainable_params()) and all(a is b for a, b in shared)


def test_a_localizer_has_no_features():
    with pytest.raises(TypeError, match="only recognizers"):
        Features(create_model("bmn", num_classes=0, tscale=8, feat_dim=16))
