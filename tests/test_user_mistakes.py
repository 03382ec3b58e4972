"""Every user mistake is answered in one line: run through the real commands (``python train.py`` ...),
a wrong device, a class count that does not fit, a missing or unreadable file or folder, a bad
configuration value or an unusable path ends with exit status 2 and exactly one line on stderr,
``error: ...``, naming the value or file and what to do, and no traceback (ZOO_DEBUG=1 asks for one).
Where the line names a fix, the test follows it and the command then works. On this CPU machine every
command starts with one line naming its device, and MindSpore's warnings about the Ascend/GPU
libraries it could not load do not appear."""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from src.config import load_config
from src.data.readers import FrameReadError
from src.models.builder import build_network
from src.models.registry import build_model_from_config
from src.models.weights import CheckpointMismatchError, save_checkpoint_atomic
from src.utils.command import dataset_worker_error
from src.utils.runtime import device_available

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSES = ["MoveLeft", "MoveRight"]
# A 3D-ResNet-10 a quarter wide on 16 px clips of 4 frames: each command runs in a few seconds.
NET = dict(model="resnet3d", model_depth=10, widen_factor=0.25, spatial_size=16, resize_short=20,
           train_sample_duration=4, test_sample_duration=4)
BACKEND_NOISE = ("is not available", "libmindspore_ascend", "libmindspore_gpu", "when loading plugin",
                 "tbe operator", "ASCEND_OPP_PATH")


def _write_video(folder, value):
    os.makedirs(folder)
    for i in range(6):
        cv2.imwrite(os.path.join(folder, f"image_{i + 1:05d}.jpg"), np.full((24, 32, 3), value, np.uint8))
    with open(os.path.join(folder, "n_frames"), "w") as handle:
        handle.write("6")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Two classes (dark / bright frames), two training and one validation video each, and a 4-class
    checkpoint of the same network to fine-tune from."""
    root = tmp_path_factory.mktemp("mistakes")
    database = {}
    for c, label in enumerate(CLASSES):
        for k in range(3):
            video_id = f"v_{label}_g{k + 1:02d}_c01"
            _write_video(str(root / "jpg" / label / video_id), 60 + 130 * c)
            database[video_id] = {"subset": "training" if k < 2 else "validation",
                                  "annotations": {"label": label, "segment": [1, 6]}}
    (root / "anno.json").write_text(json.dumps({"labels": CLASSES, "database": database}))
    save_checkpoint_atomic(build_model_from_config(load_config("", dict(NET, num_classes=4))),
                           str(root / "pretrained4.ckpt"))
    return root


def common(data, **overrides):
    args = dict(NET, dataset="demo", device_target="CPU", video_path=data / "jpg", annotation_path=data / "anno.json",
                num_classes=2, batch_size=2, num_workers=1, optimizer="sgd", lr=0.01, normalize="minus_one_to_one",
                num_epochs=1, no_eval=True, eval_batch_size=1)
    args.update(overrides)
    return [item for key, value in args.items() if value is not None for item in (f"--{key}", str(value))]


def run(script, *args, env=None):
    command = [sys.executable] + (["-m", script] if not script.endswith(".py") else [script]) + [str(a) for a in args]
    environment = {key: value for key, value in os.environ.items() if key != "ZOO_DEBUG"}
    environment.update(env or {})
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, env=environment)
    result.command = shlex.join(command[1:])
    return result


def assert_one_error_line(result, *named):
    """Exit status 2, stderr exactly one ``error:`` line holding every string of ``named``; returns it."""
    lines = result.stderr.splitlines()
    context = f"{result.command}\nstdout:\n{result.stdout[-1500:]}\nstderr:\n{result.stderr[-3000:]}"
    assert result.returncode == 2, context
    assert len(lines) == 1 and lines[0].startswith("error: "), context
    assert "Traceback" not in result.stdout + result.stderr, context
    for text in named:
        assert str(text) in lines[0], f"{text!r} not in: {lines[0]}"
    return lines[0]


def assert_works(result):
    context = f"{result.command}\nstdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
    assert result.returncode == 0, context
    assert "Traceback" not in result.stderr and "error:" not in result.stderr, context
    assert not [noise for noise in BACKEND_NOISE if noise in result.stderr], context
    return result.stdout


def first_line(result) -> str:
    return result.stdout.splitlines()[0]


@pytest.mark.skipif(device_available("Ascend") or device_available("GPU"), reason="needs a CPU-only machine")
def test_a_device_this_machine_lacks_is_one_line_naming_it_and_cpu():
    ascend = run("train.py", "--config_path", "configs/i3d/ucf101_rgb.yaml", "--device_target", "Ascend")
    assert_one_error_line(ascend, "device_target Ascend", "Ascend device", "--device_target CPU")
    assert not [noise for noise in BACKEND_NOISE if noise in ascend.stdout + ascend.stderr]
    gpu = run("eval.py", "--config_path", "configs/i3d/ucf101_rgb.yaml", "--device_target", "GPU",
              "--checkpoint_path", "none.ckpt")
    assert_one_error_line(gpu, "device_target GPU", "--device_target CPU")
    # ZOO_DEBUG=1 shows the traceback, and MindSpore's own reasons
    debug = run("train.py", "--config_path", "configs/i3d/ucf101_rgb.yaml", "--device_target", "Ascend",
                env={"ZOO_DEBUG": "1"})
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "DeviceUnavailableError" in debug.stderr
    assert "is not available" in debug.stderr


def test_fine_tuning_hint_names_the_options_that_work_and_the_run_says_what_it_loaded(data, tmp_path):
    pretrained = data / "pretrained4.ckpt"
    wrong = run("train.py", *common(data, checkpoint_path=pretrained, save_dir=tmp_path / "ft"))
    line = assert_one_error_line(wrong, pretrained, "4 classes", "--num_classes is 2")
    fix = re.search(r"set (--num_classes 4 --finetune_num_classes 2)", line)
    assert fix, line
    fixed = run("train.py", *common(data, checkpoint_path=pretrained, save_dir=tmp_path / "ft"), *fix.group(1).split())
    out = assert_works(fixed)
    assert first_line(fixed).endswith("device_target CPU: running on CPU")
    assert f"loaded {pretrained} (4 classes); classifier replaced: 4 -> 2 classes" in out

    # Evaluating the 2-class result with a recipe that fine-tunes to 3 classes: the option that sets
    # the network's classes there is --finetune_num_classes (--num_classes alone would change nothing).
    trained = tmp_path / "ft" / "checkpoints" / "resnet3d_demo_rgb-1_2.ckpt"
    assert trained.is_file(), sorted(os.listdir(tmp_path / "ft" / "checkpoints"))
    recipe = common(data, num_classes=4, finetune_num_classes=3, checkpoint_path=trained, save_dir=tmp_path / "ev",
                    device_target=None)  # auto: the probe that used to print backend warnings
    wrong = run("eval.py", *recipe)
    line = assert_one_error_line(wrong, trained, "2 classes", "--finetune_num_classes 3")
    fix = re.search(r"set (--finetune_num_classes 2)$", line)
    assert fix, line
    fixed = run("eval.py", *recipe, *fix.group(1).split())
    assert_works(fixed)
    assert first_line(fixed).endswith("device_target auto: running on CPU")

    # Resuming logs the checkpoint and its classes.
    resumed = run("train.py", *common(data, checkpoint_path=trained, save_dir=tmp_path / "ft", resume=True,
                                      num_epochs=2, num_classes=4, finetune_num_classes=2))
    assert f"resuming {trained} (2 classes)" in assert_works(resumed)


def test_resume_with_another_class_count_names_finetune_num_classes(tiny_cfg, tmp_path):
    # In-process (the tiny test model): the annotation's own class check does not come first here.
    save_checkpoint_atomic(build_network(tiny_cfg), str(tmp_path / "two.ckpt"))
    tiny_cfg.update(num_classes=400, finetune_num_classes=3, checkpoint_path=str(tmp_path / "two.ckpt"))
    with pytest.raises(CheckpointMismatchError, match=r"has 2 classes.*set --finetune_num_classes 2$"):
        build_network(tiny_cfg, for_resume=True)
    tiny_cfg.finetune_num_classes = 2
    build_network(tiny_cfg, for_resume=True)
    tiny_cfg.update(num_classes=3, finetune_num_classes=0)
    with pytest.raises(CheckpointMismatchError, match=r"has 2 classes, but --num_classes is 3: set --num_classes 2$"):
        build_network(tiny_cfg, for_resume=True)


def test_an_output_folder_that_cannot_be_made_is_named(data, tmp_path):
    (tmp_path / "file.txt").write_text("a file, not a folder")
    blocked = tmp_path / "file.txt" / "sub"
    train = run("train.py", *common(data, save_dir=blocked))
    assert_one_error_line(train, f"save_dir {blocked}", f"{tmp_path / 'file.txt'} is a file", "--save_dir")
    export = run("export.py", *common(data, num_classes=4, checkpoint_path=data / "pretrained4.ckpt",
                                      file_name=blocked / "net"))
    assert_one_error_line(export, f"folder {blocked}", "--file_name")


def test_export_takes_any_path_the_file_system_takes(data, tmp_path):
    name = tmp_path / "new folder" / "my model"
    result = run("export.py", *common(data, num_classes=4, checkpoint_path=data / "pretrained4.ckpt", batch_size=1,
                                      file_name=name))
    out = assert_works(result)
    assert first_line(result).endswith("device_target CPU: running on CPU")
    assert f"exported {name}.mindir" in out and f"reloaded {name}.mindir" in out
    assert sorted(os.listdir(tmp_path / "new folder")) == ["my model.mindir"]


def test_missing_or_unreadable_inputs_are_one_line(data, tmp_path):
    missing = tmp_path / "nope.yaml"
    assert_one_error_line(run("train.py", "--config_path", missing), f"config file {missing} does not exist",
                          "--config_path")
    assert_one_error_line(run("eval.py", "--config_path", tmp_path), f"config file {tmp_path} is not a file")
    assert_one_error_line(run("eval.py", *common(data, checkpoint_path=tmp_path / "none.ckpt",
                                                 save_dir=tmp_path / "ev")),
                          f"checkpoint {tmp_path / 'none.ckpt'} does not exist", "--checkpoint_path")
    assert_one_error_line(run("train.py", *common(data, video_path=tmp_path / "frames", save_dir=tmp_path / "tr")),
                          f"video_path {tmp_path / 'frames'} does not exist", "--video_path")
    preprocess = run("preprocess.py", *common(data, video_path=tmp_path / "frames", pre_result_path=tmp_path / "pre"))
    assert_one_error_line(preprocess, f"video_path {tmp_path / 'frames'} does not exist")
    assert first_line(preprocess).endswith("device: none needed (preprocess.py runs no network; it reads and "
                                           "writes data on the CPU)")
    assert_one_error_line(run("postprocess.py", "--result_path", tmp_path / "infer"),
                          f"result_path {tmp_path / 'infer'} does not exist", "--result_path")


def test_bad_options_and_values_are_one_line(data, tmp_path):
    assert_one_error_line(run("train.py", *common(data, lr="nan")), "'lr'", "nan")
    assert_one_error_line(run("export.py", "--learning_rate", "0.1"), "--learning_rate", "--help")


def test_a_mistake_found_in_a_loader_worker_is_one_line_too(data, tmp_path):
    """Every training video unreadable: the loader's worker finds it, MindSpore re-raises it as its own
    RuntimeError, and the command still answers with the one error line (after the skip warnings)."""
    shutil.copytree(data / "jpg", tmp_path / "jpg")
    for frame in (tmp_path / "jpg").glob("*/*/*.jpg"):
        frame.write_bytes(b"not a jpeg")
    result = run("train.py", *common(data, video_path=tmp_path / "jpg", save_dir=tmp_path / "run"))
    context = f"{result.command}\nstderr:\n{result.stderr[-3000:]}"
    assert result.returncode == 2 and "Traceback" not in result.stdout + result.stderr, context
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: all 4 videos are unreadable (listed in {tmp_path / 'run' / 'bad_samples.tsv'}): "
                      f"check the data"], context


def test_only_a_users_mistake_is_taken_out_of_a_loader_workers_error():
    def worker_error(last_line):
        return RuntimeError("Exception thrown from user defined Python function in dataset. \n\n" + "-" * 66 +
                            "\n- Python Call Stack: \n" + "-" * 66 + "\nTraceback (most recent call last):\n"
                            '  File "src/data/dataset.py", line 1, in __getitem__\n    raise X\n' + last_line +
                            "\n\n" + "-" * 66 + "\n- Dataset Pipeline Error Message: \n" + "-" * 66 + "\n[ERROR] ...")
    mistake = dataset_worker_error(worker_error(f"{FrameReadError.__name__}: frame f.jpg is corrupt"))
    assert str(mistake) == "frame f.jpg is corrupt"
    assert dataset_worker_error(worker_error("ZeroDivisionError: division by zero")) is None  # a bug: traceback
    assert dataset_worker_error(RuntimeError("some other failure")) is None
