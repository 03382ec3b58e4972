"""No user file can run code: a crafted pickle, saved under the name and format each loader of user
files expects, is refused by every one of them, naming the file, and what it would have run did not
run."""
import os
import pickle

import numpy as np
import pytest

from src.applications import tabletennis
from src.config import load_config
from src.data.annotations import load_annotation_json, load_list_file, read_class_index
from src.data.bmn_data import load_feature_file
from src.infer.bins import read_meta
from src.models.weights import read_checkpoint
from src.options import ConfigError
from src.tools.convert.pdparams2ckpt import load_pdparams
from src.utils.rank_table import load_rank_table


class MakesFolder:
    """Unpickling this creates ``folder``: the proof that a loader ran code from the file."""

    def __init__(self, folder):
        self.folder = str(folder)

    def __reduce__(self):
        return os.mkdir, (self.folder,)


def crafted(tmp_path, name, wrap=lambda payload: payload):
    """A pickle named ``name`` whose loading would create ``tmp_path/ran``; returns (file, marker)."""
    marker = tmp_path / "ran"
    target = tmp_path / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(pickle.dumps(wrap(MakesFolder(marker))))
    return str(target), marker


LOADERS = {
    "table-tennis features (.pkl)": ("v.pkl", lambda f: tabletennis.load_video_features(f, 8),
                                     lambda p: {"image_feature": p}),
    "table-tennis labels": ("labels.json", tabletennis.read_labels, None),
    "PaddlePaddle weights (.pdparams)": ("w.pdparams", load_pdparams, lambda p: {"conv.weight": p}),
    "MindSpore checkpoint": ("net.ckpt", read_checkpoint, None),
    "BMN features (.npy)": ("feat.npy", lambda f: load_feature_file(f, 100, 400), None),
    "annotation JSON": ("anno.json", lambda f: load_annotation_json(f, "train", "."), None),
    "list file": ("trainlist.txt", lambda f: load_list_file(f, "."), None),
    "class index": ("classInd.txt", read_class_index, None),
    "rank table": ("hccl.json", load_rank_table, None),
    "offline-inference meta.json": ("pre/meta.json", lambda f: read_meta(os.path.dirname(f)), None),
}


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_a_crafted_pickle_runs_nothing(loader, tmp_path):
    name, load, wrap = LOADERS[loader]
    path, marker = crafted(tmp_path, name, wrap or (lambda payload: payload))
    if name.endswith(".npy"):  # an object array holding the payload, as np.save(allow_pickle=True) writes it
        np.save(path, np.array([MakesFolder(marker)], dtype=object), allow_pickle=True)
    with pytest.raises(Exception) as refused:
        load(path)
    assert not marker.exists(), f"{loader} ran code from {path}"
    assert os.path.basename(path) in str(refused.value), str(refused.value)


def test_table_tennis_build_skips_and_reports_a_crafted_pickle(tmp_path, capsys):
    features = tmp_path / "features"
    path, marker = crafted(features, "v.pkl", lambda payload: {"image_feature": payload})
    labels = tmp_path / "labels.json"
    labels.write_text('{"fps": 25, "gts": [{"url": "x/v.mp4", "total_frames": 10, "actions": []}]}')
    cfg = load_config("", {"feat_dim": "8", "train_window_frames": "4", "tscale": "4"})
    summary = tabletennis.build(str(features), {"train": str(labels)}, str(tmp_path / "out"), cfg, stride=4)
    assert not (features / "ran").exists() and not marker.exists()
    assert any(path in example for examples in summary["examples"].values() for example in examples)


def test_pytorch_files_are_read_as_tensors_only(tmp_path):
    torch = pytest.importorskip("torch")
    from src.tools.convert.pt2ckpt import load_torch_file
    marker = tmp_path / "ran"
    torch.save({"conv.weight": MakesFolder(marker)}, tmp_path / "w.pt")
    with pytest.raises(Exception) as refused:
        load_torch_file(str(tmp_path / "w.pt"))
    assert not marker.exists() and "w.pt" in str(refused.value)


def test_yaml_configs_build_no_python_objects(tmp_path):
    marker = tmp_path / "ran"
    (tmp_path / "run.yaml").write_text(f"lr: !!python/object/apply:os.mkdir [{str(marker)!r}]\n")
    with pytest.raises(ConfigError, match="run.yaml"):
        load_config(str(tmp_path / "run.yaml"))
    assert not marker.exists()
