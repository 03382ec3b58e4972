"""BMN weight conversion from every public checkpoint layout, on state dicts written here with the
public key names and shapes: JJBOY (2019 and June 2020: ``{'epoch', 'state_dict'}``, ``module.``
keys, Conv1d kernels (out, in/groups, k), the ``sample_mask`` parameter), mmaction2 (``{'meta',
'state_dict'}``) and PaddleVideo (``.pdparams`` pickles, structured or static-graph names)."""
import pickle

import mindspore as ms
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from src.models.bmn import BMN, dense_sampling_matrix
from src.models.weights import load_checkpoint_strict
from src.tools.convert import pdparams2ckpt, pt2ckpt

TSCALE, FEAT_DIM, NUM_SAMPLE = 8, 16, 4
SMALL = {"tscale": TSCALE, "feat_dim": FEAT_DIM, "num_sample": NUM_SAMPLE}


@pytest.fixture(scope="module", autouse=True)
def graph_mode():
    ms.set_context(mode=ms.GRAPH_MODE)


def public_shapes(feat_dim, num_sample, pem=256):
    """Key -> shape of the PyTorch BMN (JJBOY / mmaction2 module names)."""
    return {"x_1d_b.0.weight": (256, feat_dim // 4, 3), "x_1d_b.0.bias": (256,),
            "x_1d_b.2.weight": (256, 64, 3), "x_1d_b.2.bias": (256,),
            "x_1d_s.0.weight": (256, 64, 3), "x_1d_s.0.bias": (256,),
            "x_1d_s.2.weight": (1, 256, 1), "x_1d_s.2.bias": (1,),
            "x_1d_e.0.weight": (256, 64, 3), "x_1d_e.0.bias": (256,),
            "x_1d_e.2.weight": (1, 256, 1), "x_1d_e.2.bias": (1,),
            "x_1d_p.0.weight": (pem, 256, 3), "x_1d_p.0.bias": (pem,),
            "x_3d_p.0.weight": (512, pem, num_sample, 1, 1), "x_3d_p.0.bias": (512,),
            "x_2d_p.0.weight": (128, 512, 1, 1), "x_2d_p.0.bias": (128,),
            "x_2d_p.2.weight": (128, 128, 3, 3), "x_2d_p.2.bias": (128,),
            "x_2d_p.4.weight": (128, 128, 3, 3), "x_2d_p.4.bias": (128,),
            "x_2d_p.6.weight": (2, 128, 1, 1), "x_2d_p.6.bias": (2,)}


def random_weights(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return {key: (rng.normal(0, 0.5 / np.sqrt(np.prod(shape[1:]) or 1), shape)).astype(np.float32)
            for key, shape in shapes.items()}


def torch_bmn(weights, x, sample_mask):
    """The public forward pass (dense sampling matmul, Conv3d over the samples)."""
    w = {key: torch.from_numpy(value) for key, value in weights.items()}
    base = F.relu(F.conv1d(x, w["x_1d_b.0.weight"], w["x_1d_b.0.bias"], padding=1, groups=4))
    base = F.relu(F.conv1d(base, w["x_1d_b.2.weight"], w["x_1d_b.2.bias"], padding=1, groups=4))

    def head(name):
        hidden = F.relu(F.conv1d(base, w[f"{name}.0.weight"], w[f"{name}.0.bias"], padding=1, groups=4))
        return torch.sigmoid(F.conv1d(hidden, w[f"{name}.2.weight"], w[f"{name}.2.bias"])).squeeze(1)

    pem = F.relu(F.conv1d(base, w["x_1d_p.0.weight"], w["x_1d_p.0.bias"], padding=1))
    bm = torch.matmul(pem, torch.from_numpy(sample_mask)).reshape(x.shape[0], pem.shape[1], NUM_SAMPLE, TSCALE,
                                                                   TSCALE)
    maps = F.relu(F.conv3d(bm, w["x_3d_p.0.weight"], w["x_3d_p.0.bias"])).squeeze(2)
    maps = F.relu(F.conv2d(maps, w["x_2d_p.0.weight"], w["x_2d_p.0.bias"]))
    maps = F.relu(F.conv2d(maps, w["x_2d_p.2.weight"], w["x_2d_p.2.bias"], padding=1))
    maps = F.relu(F.conv2d(maps, w["x_2d_p.4.weight"], w["x_2d_p.4.bias"], padding=1))
    maps = torch.sigmoid(F.conv2d(maps, w["x_2d_p.6.weight"], w["x_2d_p.6.bias"]))
    return maps.numpy(), head("x_1d_s").numpy(), head("x_1d_e").numpy()


def jjboy_file(path, weights, layout):
    mask = dense_sampling_matrix(TSCALE, NUM_SAMPLE, 3, 0.5, layout)
    state = {f"module.{key}": torch.from_numpy(value) for key, value in weights.items()}
    state["module.sample_mask"] = torch.from_numpy(mask)
    torch.save({"epoch": 9, "state_dict": state}, path)
    return mask


def converted_outputs(ckpt, layout, x, pem_channels=256):
    net = BMN(TSCALE, FEAT_DIM, NUM_SAMPLE, bm_layout=layout, pem_channels=pem_channels)
    load_checkpoint_strict(net, str(ckpt))
    net.set_train(False)
    return [out.asnumpy() for out in net(ms.Tensor(x))]


@pytest.mark.parametrize("layout", ["duration_start", "start_end"])
def test_jjboy_checkpoints_convert_and_reproduce_the_public_forward(tmp_path, layout):
    weights = random_weights(public_shapes(FEAT_DIM, NUM_SAMPLE))
    mask = jjboy_file(tmp_path / "BMN_best.pth.tar", weights, layout)
    summary = pt2ckpt.convert("bmn", str(tmp_path / "BMN_best.pth.tar"), str(tmp_path / "bmn.ckpt"),
                              **dict(SMALL, bm_layout=layout))
    assert summary["tensors"] == len(weights)
    assert summary["notes"] == [f"dropped the checkpoint's sample_mask: the fixed sampling matrix of bm_layout "
                                f"{layout}, rebuilt by the network (not a weight)"]
    x = np.random.default_rng(1).normal(size=(2, FEAT_DIM, TSCALE)).astype(np.float32)
    expected = torch_bmn(weights, torch.from_numpy(x), mask)
    for ours, theirs in zip(converted_outputs(tmp_path / "bmn.ckpt", layout, x), expected):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=2e-5)


def test_a_checkpoint_of_the_other_convention_is_refused_by_name(tmp_path, capsys):
    jjboy_file(tmp_path / "bmn_2020.pth", random_weights(public_shapes(FEAT_DIM, NUM_SAMPLE)), "start_end")
    status = pt2ckpt.main(["--model", "bmn", "--input", str(tmp_path / "bmn_2020.pth"), "--output",
                           str(tmp_path / "out.ckpt"), "--kwargs",
                           f"tscale={TSCALE},feat_dim={FEAT_DIM},num_sample={NUM_SAMPLE}"])
    err = capsys.readouterr().err
    assert status == 2
    assert "bmn_2020.pth" in err and "trained with bm_layout start_end" in err and "bm_layout=start_end" in err
    assert not (tmp_path / "out.ckpt").exists()


def test_mmaction2_checkpoint_converts_and_reports_every_problem(tmp_path):
    weights = random_weights(public_shapes(FEAT_DIM, NUM_SAMPLE))
    state = {key: torch.from_numpy(value) for key, value in weights.items()}
    state["sample_mask"] = torch.from_numpy(dense_sampling_matrix(TSCALE, NUM_SAMPLE, 3, 0.5))
    # the bm_mask buffer mmaction2 saves since 2022: row d is d zeros behind tscale - d ones
    state["bm_mask"] = torch.tensor([[1.0] * (TSCALE - d) + [0.0] * d for d in range(TSCALE)])
    torch.save({"meta": {"epoch": 9}, "state_dict": state}, tmp_path / "bmn_mmaction2.pth")
    summary = pt2ckpt.convert("bmn", str(tmp_path / "bmn_mmaction2.pth"), str(tmp_path / "ok.ckpt"), **SMALL)
    assert any("dropped the checkpoint's bm_mask" in note for note in summary["notes"])
    x = np.random.default_rng(2).normal(size=(1, FEAT_DIM, TSCALE)).astype(np.float32)
    ours = converted_outputs(tmp_path / "ok.ckpt", "duration_start", x)
    np.testing.assert_allclose(ours[0], torch_bmn(weights, torch.from_numpy(x), state["sample_mask"].numpy())[0],
                               rtol=1e-4, atol=2e-5)
    valid_mask, state["bm_mask"] = state["bm_mask"], torch.ones(TSCALE, TSCALE)  # not this tscale's mask
    torch.save({"meta": {}, "state_dict": state}, tmp_path / "other_mask.pth")
    with pytest.raises(ValueError, match=rf"other_mask\.pth.*bm_mask.*tscale {TSCALE}"):
        pt2ckpt.convert("bmn", str(tmp_path / "other_mask.pth"), str(tmp_path / "bad.ckpt"), **SMALL)
    state["bm_mask"] = valid_mask

    del state["x_2d_p.6.bias"]
    state["x_2d_p.0.weight"] = torch.zeros(64, 512, 1, 1)
    state["extra.weight"] = torch.zeros(3)
    torch.save({"meta": {}, "state_dict": state}, tmp_path / "broken.pth")
    with pytest.raises(ValueError) as error:
        pt2ckpt.convert("bmn", str(tmp_path / "broken.pth"), str(tmp_path / "bad.ckpt"), **SMALL)
    message = str(error.value)
    assert "broken.pth" in message and "missing (1)" in message and "x_2d_p.6.bias" in message
    assert "unexpected (1)" in message and "extra.weight" in message
    assert "x_2d_p.0.weight: file (64, 512, 1, 1), network (128, 512, 1, 1)" in message


def paddle_state(weights, static_names=False):
    """PaddleVideo BMN names for the ports' keys (structured with backbone., or ParamAttr names)."""
    structured = {"x_1d_b.0": "b_conv1", "x_1d_b.2": "b_conv2", "x_1d_s.0": "ts_conv1", "x_1d_s.2": "ts_conv2",
                  "x_1d_e.0": "te_conv1", "x_1d_e.2": "te_conv2", "x_1d_p.0": "p_conv1", "x_3d_p.0": "p_conv3d1",
                  "x_2d_p.0": "p_conv2d1", "x_2d_p.2": "p_conv2d2", "x_2d_p.4": "p_conv2d3", "x_2d_p.6": "p_conv2d4"}
    static = dict(zip(structured, ("Base_1", "Base_2", "TEM_s1", "TEM_s2", "TEM_e1", "TEM_e2", "PEM_1d", "PEM_3d1",
                                   "PEM_2d1", "PEM_2d2", "PEM_2d3", "PEM_2d4")))
    state = {}
    for key, value in weights.items():
        module, kind = key.rsplit(".", 1)
        name = (f"{static[module]}_{kind[0]}" if static_names else f"backbone.{structured[module]}.{kind}")
        state[name] = value
    if not static_names:
        state["StructuredToParameterName@@"] = {name: name for name in state}
    return state


@pytest.mark.parametrize("static_names", [False, True])
def test_paddlevideo_bmn_converts_without_paddle(tmp_path, static_names):
    weights = random_weights(public_shapes(FEAT_DIM, NUM_SAMPLE, pem=128), seed=3)
    with open(tmp_path / "BMN.pdparams", "wb") as handle:
        pickle.dump(paddle_state(weights, static_names), handle, protocol=2)
    summary = pdparams2ckpt.convert(str(tmp_path / "BMN.pdparams"), str(tmp_path / "bmn.ckpt"), model="bmn",
                                    bmn_kwargs={"tscale": TSCALE, "feat_dim": FEAT_DIM, "num_sample": NUM_SAMPLE})
    assert summary["tensors"] == len(weights)
    x = np.random.default_rng(4).normal(size=(1, FEAT_DIM, TSCALE)).astype(np.float32)
    expected = torch_bmn(weights, torch.from_numpy(x), dense_sampling_matrix(TSCALE, NUM_SAMPLE, 3, 0.5))
    for ours, theirs in zip(converted_outputs(tmp_path / "bmn.ckpt", "duration_start", x, pem_channels=128),
                            expected):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=2e-5)


def test_paddlevideo_bmn_with_unknown_names_is_refused(tmp_path, capsys):
    weights = random_weights(public_shapes(FEAT_DIM, NUM_SAMPLE, pem=128))
    state = paddle_state(weights)
    state["backbone.p_conv9.weight"] = state.pop("backbone.p_conv2d4.weight")
    with open(tmp_path / "odd.pdparams", "wb") as handle:
        pickle.dump(state, handle)
    status = pdparams2ckpt.main(["--model", "bmn", "--input", str(tmp_path / "odd.pdparams"), "--output",
                                 str(tmp_path / "odd.ckpt"), "--tscale", str(TSCALE), "--feat_dim", str(FEAT_DIM)])
    err = capsys.readouterr().err
    assert status == 2 and "odd.pdparams" in err and "backbone.p_conv9.weight" in err and "x_2d_p.6.weight" in err
