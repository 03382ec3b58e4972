"""Snippet features and long-video proposals split into shards and merged, and runs killed (SIGKILL,
Ctrl-C) and rerun: every way gives the features, video_info_new.csv and proposals of one
uninterrupted run."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from src.applications import proposals as long_videos
from src.tools.cli import ToolError
from src.tools.data import extract_features
from src.tools.data.extract_features import VIDEO_INFO_FILE, feature_file, read_feature_csv, row_file
from src.tools.data.videos import Shard, is_msrun_scheduler, resolve_shard
from tests.test_bmn_pipeline import TSCALE, write_small_models, write_video

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VIDEOS = ("clip_a", "clip_b", "clip_c", "clip_d")
# Runs a command's main with every video's extraction slowed down, so a signal sent once the first
# video's csv exists lands while the run is still going.
SLOW_RUN = """
import sys, time
from src.tools.data import extract_features
extract = extract_features.extract_video
extract_features.extract_video = lambda path, options: (time.sleep(float(sys.argv[1])), extract(path, options))[1]
command = __import__(sys.argv[2], fromlist=["main"])
sys.exit(command.main(sys.argv[3:]))
"""


# tiny.avi is shorter than a snippet: a run whose videos include it skips it and exits with status 1
SKIPPED_TINY = 1


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shards")
    videos = folder / "videos"
    videos.mkdir()
    for seed, name in enumerate(VIDEOS):
        write_video(videos / f"{name}.avi", 24 + 8 * seed, seed)
    write_video(videos / "tiny.avi", 6, 9)  # shorter than one snippet: never has features
    write_small_models(folder)
    return folder


def feature_args(setup, dst, *extra):
    return ["--src_path", str(setup / "videos"), "--dst_path", str(dst), "--rgb_config", str(setup / "r3d.yaml"),
            "--rgb_checkpoint", str(setup / "r3d.ckpt"), "--snippet_frames", "8", "--interval", "8",
            "--tscale", str(TSCALE), "--backend", "mindspore", *extra]


def proposal_args(setup, out, *extra):
    return ["--src_path", str(setup / "videos"), "--out_dir", str(out), "--rgb_config", str(setup / "r3d.yaml"),
            "--rgb_checkpoint", str(setup / "r3d.ckpt"), "--bmn_config", str(setup / "bmn.yaml"),
            "--bmn_checkpoint", str(setup / "bmn.ckpt"), "--snippet_frames", "8", "--interval", "8",
            "--backend", "mindspore", *extra]


@pytest.fixture(scope="module")
def reference(setup, tmp_path_factory):
    """The features of one uninterrupted, unsharded run."""
    dst = tmp_path_factory.mktemp("reference")
    assert extract_features.main(feature_args(setup, dst)) == SKIPPED_TINY
    return dst


@pytest.fixture(scope="module")
def reference_proposals(setup, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference_proposals")
    assert long_videos.main(proposal_args(setup, out)) == SKIPPED_TINY
    return out


def assert_same_features(dst, reference):
    assert (dst / VIDEO_INFO_FILE).read_text() == (reference / VIDEO_INFO_FILE).read_text()
    for name in VIDEOS:
        np.testing.assert_allclose(read_feature_csv(feature_file(str(dst), name)),
                                   read_feature_csv(feature_file(str(reference), name)), rtol=0, atol=1e-6)


def results(out):
    return json.loads((out / "proposals.json").read_text())["results"]


def _as_from_a_terminal():
    # an ignored SIGINT is inherited through exec, and a program respects it; in a full test session an
    # earlier test can leave this process ignoring SIGINT: start as a shell's foreground command would
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_slow(command, args, seconds=1.0):
    return subprocess.Popen([sys.executable, "-c", SLOW_RUN, str(seconds), command, *args], cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=_as_from_a_terminal)


def signal_after_first_video(process, feature_dir, signum):
    """Send ``signum`` once the first video's feature csv exists (the run is then inside the second)."""
    first = feature_file(str(feature_dir), VIDEOS[0])
    deadline = time.time() + 60
    while not os.path.isfile(first):
        assert process.poll() is None, f"the run ended before its first video: {process.communicate()[1][-2000:]}"
        assert time.time() < deadline, "no feature file within 60 s"
        time.sleep(0.05)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert not os.path.isfile(feature_file(str(feature_dir), VIDEOS[-1])), "the signal came after the last video"
    return process.returncode, stderr


def test_two_shards_and_their_merge_give_the_features_of_one_run(setup, reference, tmp_path, monkeypatch, capsys):
    assert extract_features.main(feature_args(setup, tmp_path, "--shard", "0/2")) == SKIPPED_TINY
    monkeypatch.setenv("RANK_ID", "1")  # the second shard from a rank launcher's environment
    monkeypatch.setenv("RANK_SIZE", "2")
    assert extract_features.main(feature_args(setup, tmp_path)) == 0  # clip_b and clip_d: nothing skipped
    assert "shard 1/2 (from RANK_ID/RANK_SIZE)" in capsys.readouterr().out
    assert not (tmp_path / VIDEO_INFO_FILE).exists()  # written by the merge only
    # every shard took every other video of the sorted names
    assert sorted(os.listdir(tmp_path / "video_info_rows")) == [f"v_{name}.csv" for name in VIDEOS]
    assert extract_features.main(feature_args(setup, tmp_path, "--merge")) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "1 of 5 videos without features" in errors[0]
    assert ": tiny;" in errors[0] and "--allow_missing true" in errors[0]
    assert not (tmp_path / VIDEO_INFO_FILE).exists()
    assert extract_features.main(["--merge", "--allow_missing", "true", "--src_path", str(setup / "videos"),
                                  "--dst_path", str(tmp_path)]) == 0
    assert "4 of 5 videos (1 without features or row)" in capsys.readouterr().out
    assert_same_features(tmp_path, reference)


def test_a_killed_run_resumes_to_the_features_of_one_run(setup, reference, tmp_path, capsys):
    status, _ = signal_after_first_video(start_slow("src.tools.data.extract_features", feature_args(setup, tmp_path)),
                                         tmp_path, signal.SIGKILL)
    assert status == -signal.SIGKILL
    assert extract_features.main(feature_args(setup, tmp_path)) == SKIPPED_TINY
    assert "skipped (already complete)" in capsys.readouterr().out
    assert_same_features(tmp_path, reference)


def test_ctrl_c_exits_130_and_the_rerun_completes(setup, reference, tmp_path):
    status, stderr = signal_after_first_video(
        start_slow("src.tools.data.extract_features", feature_args(setup, tmp_path)), tmp_path, signal.SIGINT)
    assert status == 130 and "interrupted" in stderr and "Traceback" not in stderr, stderr[-2000:]
    assert extract_features.main(feature_args(setup, tmp_path)) == SKIPPED_TINY
    assert_same_features(tmp_path, reference)


def test_features_without_their_row_are_extracted_again(setup, reference, tmp_path):
    """A kill between a video's csv and its row: the rerun redoes the video instead of losing its row."""
    assert extract_features.main(feature_args(setup, tmp_path)) == SKIPPED_TINY
    os.remove(row_file(str(tmp_path), VIDEOS[1]))
    (tmp_path / VIDEO_INFO_FILE).unlink()
    assert extract_features.main(feature_args(setup, tmp_path)) == SKIPPED_TINY
    assert_same_features(tmp_path, reference)


def test_rows_of_an_earlier_video_info_file_are_kept(setup, reference, tmp_path):
    assert extract_features.main(feature_args(setup, tmp_path)) == SKIPPED_TINY
    for name in VIDEOS:  # a folder written before the row files: features and video_info_new.csv only
        os.remove(row_file(str(tmp_path), name))
    before = {name: os.path.getmtime(feature_file(str(tmp_path), name)) for name in VIDEOS}
    assert extract_features.main(feature_args(setup, tmp_path)) == SKIPPED_TINY
    assert before == {name: os.path.getmtime(feature_file(str(tmp_path), name)) for name in VIDEOS}
    assert_same_features(tmp_path, reference)


def test_proposals_rerun_after_a_kill_and_merge_over_shards(setup, reference_proposals, tmp_path, capsys):
    killed = tmp_path / "killed"
    status, _ = signal_after_first_video(start_slow("src.applications.proposals", proposal_args(setup, killed)),
                                         killed / "features", signal.SIGKILL)
    assert status == -signal.SIGKILL
    assert long_videos.main(proposal_args(setup, killed)) == SKIPPED_TINY
    assert results(killed) == results(reference_proposals)
    sharded = tmp_path / "sharded"
    assert long_videos.main(proposal_args(setup, sharded, "--shard", "1/2")) == 0
    assert not (sharded / "proposals.json").exists()
    assert long_videos.main(proposal_args(setup, sharded, "--merge")) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: 3 of 5 videos without proposals") and "clip_a, clip_c, tiny;" in error
    assert long_videos.main(proposal_args(setup, sharded, "--shard", "0/2")) == SKIPPED_TINY
    assert long_videos.main(proposal_args(setup, sharded, "--merge", "--allow_missing")) == 0
    assert results(sharded) == results(reference_proposals)
    assert (sharded / "features" / VIDEO_INFO_FILE).read_text() == \
        (reference_proposals / "features" / VIDEO_INFO_FILE).read_text()


def test_the_shard_comes_from_the_option_or_a_launchers_environment():
    assert resolve_shard(None, {}) == Shard(0, 1)
    assert resolve_shard((2, 4), {"RANK_ID": "0", "RANK_SIZE": "8"}) == Shard(2, 4, "--shard")
    assert resolve_shard(None, {"RANK_ID": "3", "RANK_SIZE": "8"}) == Shard(3, 8, "RANK_ID/RANK_SIZE")
    # a worker of msrun, and its scheduler (which runs the command too: it must do nothing)
    msrun = {"MS_ROLE": "MS_WORKER", "MS_NODE_ID": "1", "MS_WORKER_NUM": "2", "RANK_ID": "1", "RANK_SIZE": "2"}
    assert resolve_shard(None, msrun) == Shard(1, 2, "RANK_ID/RANK_SIZE")
    assert resolve_shard(None, {"MS_NODE_ID": "1", "MS_WORKER_NUM": "2"}) == Shard(1, 2, "MS_NODE_ID/MS_WORKER_NUM")
    assert not is_msrun_scheduler(msrun) and is_msrun_scheduler(dict(msrun, MS_ROLE="MS_SCHED"))
    with pytest.raises(ToolError, match=r"RANK_ID/RANK_SIZE: '8/8' is not a shard I/N .* pass --shard I/N"):
        resolve_shard(None, {"RANK_ID": "8", "RANK_SIZE": "8"})
    assert Shard(1, 3).of(range(8)) == [1, 4, 7]


@pytest.mark.parametrize("value", ["2/2", "1/-2", "1", "a/b", "1/0"])
def test_a_bad_shard_option_is_one_error_line(value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        extract_features.build_parser().parse_args(["--src_path", "v", "--dst_path", "f", "--shard", value])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == (f"error: argument --shard: {value!r} is not a shard I/N with "
                                               f"0 <= I < N (0/4 is the first of four shards)")


@pytest.fixture()
def unusable_video_first(setup, tmp_path):
    """A folder whose first video (sorted) is shorter than a snippet, then two good ones."""
    videos = tmp_path / "videos"
    videos.mkdir()
    for name, source in (("a_tiny", "tiny"), ("b_clip", "clip_a"), ("c_clip", "clip_b")):
        os.symlink(setup / "videos" / f"{source}.avi", videos / f"{name}.avi")
    return videos


@pytest.mark.parametrize("workers", ["1", "2"])
def test_strict_stops_at_the_first_unusable_video_and_the_default_skips_it(setup, unusable_video_first, tmp_path,
                                                                           capsys, workers):
    dst = tmp_path / "features"
    args = feature_args(setup, dst, "--src_path", str(unusable_video_first), "--num_workers", workers)
    assert extract_features.main(args + ["--strict", "true"]) == 1
    err = capsys.readouterr().err
    assert re.search(r"FAILED +a_tiny: ", err) and "stopped at the first failure (--strict)" in err
    if workers == "1":  # a pool may have finished a video beside the failing one
        assert "2 of 3 videos not processed" in err
        assert not any(os.path.isfile(feature_file(str(dst), name)) for name in ("b_clip", "c_clip"))
    assert extract_features.main(args) == 1  # skips a_tiny, writes the others
    out, err = capsys.readouterr()
    assert re.search(r"FAILED +a_tiny: ", err) and "stopped" not in err
    assert sorted(read_video_info_names(dst)) == ["v_b_clip", "v_c_clip"]


def read_video_info_names(dst):
    return [line.split(",")[0] for line in (dst / VIDEO_INFO_FILE).read_text().splitlines()[1:]]


def test_proposals_with_strict_stop_at_the_first_unusable_video(setup, unusable_video_first, tmp_path, capsys):
    out = tmp_path / "out"
    args = proposal_args(setup, out, "--src_path", str(unusable_video_first))
    assert long_videos.main(args + ["--strict", "true"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: a_tiny: ") and "--strict is set, so no proposal is written" in error
    assert not (out / "proposals.json").exists()
    assert long_videos.main(args) == 1  # the default: a_tiny skipped, the others' proposals written
    assert sorted(results(out)) == ["b_clip", "c_clip"]
