"""Inference backends: every model run by ONNX Runtime answers as MindSpore does; the export cache
follows the checkpoint's content; fixed-shape files take any batch size."""
import os

import mindspore as ms
import numpy as np
import pytest

from src.config import load_config
from src.infer import backends
from src.infer.backends import OnnxNetwork, inference_network, resolve_backend
from src.infer.export import export_network
from src.models.builder import build_network, load_network
from src.models.registry import _registration, list_models, model_layout
from src.models.weights import save_checkpoint_atomic
from src.proposals.bmn_proposals import SoftNMSParams, proposals_of_videos
from src.utils.command import UserError

pytest.importorskip("onnxruntime")

# Small versions of each built-in model and an input for it (recipe shapes: benchmarks/bench_recognizers.py).
CASES = {
    "i3d": ({"test_sample_duration": 8, "spatial_size": 48}, (2, 3, 8, 48, 48)),
    "resnet3d": ({"model_depth": 10, "test_sample_duration": 4, "spatial_size": 32}, (2, 3, 4, 32, 32)),
    "tsn": ({"model_depth": 18, "num_segments": 2, "spatial_size": 32}, (2, 2, 3, 32, 32)),
    "pptsn": ({"model_depth": 18, "num_segments": 2, "spatial_size": 32}, (2, 2, 3, 32, 32)),
    "bmn": ({"tscale": 8, "feat_dim": 16, "num_sample": 4}, (2, 16, 8)),
}
RELATIVE = 1e-5  # of the largest output magnitude


def _randomised_checkpoint(cfg, path) -> str:
    """A checkpoint of ``cfg``'s network with non-trivial BatchNorm statistics, as trained ones have."""
    net = build_network(cfg)
    rng = np.random.default_rng(0)
    for param in net.get_parameters():
        if "moving_variance" in param.name:
            param.set_data(ms.Tensor(rng.uniform(0.5, 2.0, param.shape).astype(np.float32)))
        elif "moving_mean" in param.name:
            param.set_data(ms.Tensor(rng.normal(0.0, 0.5, param.shape).astype(np.float32)))
    return save_checkpoint_atomic(net, str(path))


def _outputs(net, x):
    out = net(ms.Tensor(x))
    return [o.asnumpy() for o in (out if isinstance(out, tuple) else (out,))]


def _config(model, tmp_path, **extra):
    overrides, _ = CASES[model]
    return load_config("", dict(model=model, num_classes=7, dataset="demo", device_target="CPU",
                                save_dir=str(tmp_path), **overrides, **extra))


def test_every_built_in_model_has_a_case():
    built_in = {name for name in list_models() if _registration(name).builder.__module__.startswith("src.models.")}
    assert built_in == set(CASES)


@pytest.mark.parametrize("model", sorted(CASES))
def test_onnxruntime_answers_as_mindspore(model, tmp_path):
    ms.set_context(mode=ms.GRAPH_MODE)
    cfg = _config(model, tmp_path, backend="onnxruntime")
    checkpoint = _randomised_checkpoint(cfg, tmp_path / "net.ckpt")
    x = np.random.default_rng(1).standard_normal(CASES[model][1]).astype(np.float32)
    want = _outputs(load_network(cfg, checkpoint), x)
    onnx_net = inference_network(cfg, checkpoint)
    assert isinstance(onnx_net, OnnxNetwork)
    got = _outputs(onnx_net, x)
    assert len(got) == len(want)
    for have, expected in zip(got, want):
        assert have.shape == expected.shape
        assert np.abs(have - expected).max() <= RELATIVE * np.abs(expected).max()
    if model_layout(model) != "NCT":  # recognizers: the same five best classes
        np.testing.assert_array_equal(np.argsort(-got[0], axis=1)[:, :5], np.argsort(-want[0], axis=1)[:, :5])
    # another batch size: exported once more, for that shape
    np.testing.assert_allclose(_outputs(onnx_net, x[:1])[0], want[0][:1], rtol=0, atol=RELATIVE * np.abs(want[0]).max())


def test_features_run_by_onnxruntime_equal_mindspore(tmp_path):
    ms.set_context(mode=ms.GRAPH_MODE)
    cfg = _config("resnet3d", tmp_path, backend="onnxruntime")
    checkpoint = _randomised_checkpoint(cfg, tmp_path / "net.ckpt")
    x = np.random.default_rng(2).standard_normal(CASES["resnet3d"][1]).astype(np.float32)
    onnx_features = inference_network(cfg, checkpoint, features=True)
    want = inference_network(load_config("", dict(cfg, backend="mindspore")), checkpoint, features=True)
    assert onnx_features.num_features == want.num_features == 512
    np.testing.assert_allclose(_outputs(onnx_features, x)[0], _outputs(want, x)[0], rtol=1e-5, atol=1e-5)


def test_bmn_proposals_are_identical_after_post_processing(tmp_path):
    ms.set_context(mode=ms.GRAPH_MODE)
    cfg = _config("bmn", tmp_path, backend="onnxruntime")
    checkpoint = _randomised_checkpoint(cfg, tmp_path / "bmn.ckpt")
    features = np.random.default_rng(3).standard_normal((4, 16, 8)).astype(np.float32)
    results = {}
    for backend in ("mindspore", "onnxruntime"):
        confidence, start, end = _outputs(inference_network(load_config("", dict(cfg, backend=backend)), checkpoint),
                                          features)
        outputs = [(f"v{i}", 10.0, start[i], end[i], confidence[i]) for i in range(len(features))]
        results[backend] = proposals_of_videos(outputs, SoftNMSParams())
    for video, proposals in results["mindspore"].items():
        other = results["onnxruntime"][video]
        assert [p["segment"] for p in proposals] == [p["segment"] for p in other]
        np.testing.assert_allclose([p["score"] for p in proposals], [p["score"] for p in other], rtol=1e-5)


def test_the_export_cache_follows_the_checkpoint_content(tmp_path, monkeypatch):
    ms.set_context(mode=ms.GRAPH_MODE)
    cfg = _config("resnet3d", tmp_path, backend="onnxruntime")
    checkpoint = _randomised_checkpoint(cfg, tmp_path / "run" / "net.ckpt")
    x = np.zeros(CASES["resnet3d"][1], np.float32)
    exports = []
    monkeypatch.setattr(backends, "export_network", lambda *args: exports.append(args) or export_network(*args))
    inference_network(cfg, checkpoint)(x)
    cached = os.listdir(tmp_path / "run" / backends.CACHE_FOLDER)
    assert len(exports) == 1 and len(cached) == 1 and cached[0].endswith("-2x3x4x32x32.onnx")
    inference_network(cfg, checkpoint)(x)  # same content: the file is reused
    assert len(exports) == 1
    save_checkpoint_atomic(build_network(cfg), checkpoint)  # retrained under the same name
    net = inference_network(cfg, checkpoint)
    net(x)
    assert len(exports) == 2 and len(os.listdir(tmp_path / "run" / backends.CACHE_FOLDER)) == 2
    np.testing.assert_allclose(_outputs(net, x)[0], _outputs(load_network(cfg, checkpoint), x)[0], atol=1e-5)


def test_a_fixed_shape_file_takes_any_batch_size(tmp_path):
    ms.set_context(mode=ms.GRAPH_MODE)
    cfg = _config("resnet3d", tmp_path)
    net = load_network(cfg, _randomised_checkpoint(cfg, tmp_path / "net.ckpt"))
    path, _ = export_network(net, (2, 3, 4, 32, 32), str(tmp_path / "fixed"), "ONNX", "CPU")
    onnx_net = inference_network(load_config("", dict(cfg, backend="onnxruntime", onnx_path=path)), "")
    x = np.random.default_rng(4).standard_normal((5, 3, 4, 32, 32)).astype(np.float32)
    np.testing.assert_allclose(_outputs(onnx_net, x)[0], _outputs(net, x)[0], rtol=1e-5, atol=1e-5)
    with pytest.raises(UserError, match=r"takes inputs of shape \[2, 3, 4, 32, 32\]"):
        onnx_net(np.zeros((2, 3, 8, 32, 32), np.float32))


def test_backend_choice(monkeypatch):
    assert resolve_backend("auto", "CPU") == "onnxruntime"
    assert resolve_backend("mindspore", "CPU") == "mindspore"
    monkeypatch.setattr(backends, "onnxruntime_available", lambda: False)
    assert resolve_backend("auto", "CPU") == "mindspore"
    with pytest.raises(UserError, match="onnxruntime is not installed"):
        resolve_backend("onnxruntime", "CPU")


def test_a_short_temporal_stem_runs_on_onnxruntime_as_on_mindspore(tmp_path):
    """A 3-frame stem has unequal pads (1, 3, 3), which the exporter would write in the wrong order."""
    ms.set_context(mode=ms.GRAPH_MODE)
    cfg = _config("resnet3d", tmp_path, backend="onnxruntime", conv1_t_size=3, conv1_t_stride=2)
    checkpoint = _randomised_checkpoint(cfg, tmp_path / "net.ckpt")
    x = np.random.default_rng(5).standard_normal(CASES["resnet3d"][1]).astype(np.float32)
    want = _outputs(load_network(cfg, checkpoint), x)[0]
    np.testing.assert_allclose(_outputs(inference_network(cfg, checkpoint), x)[0], want,
                               rtol=0, atol=RELATIVE * np.abs(want).max())
