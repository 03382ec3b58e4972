"""The MindIR inference program (ascend_310_infer/): compile check against the installed wheel's C++
headers, and a real CMake build + run against a stand-in libmindspore.so (ascend_310_infer/test/)."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INFER = os.path.join(ROOT, "ascend_310_infer")
ENV = {"PATH": f"{os.path.dirname(sys.executable)}:/usr/bin:/bin", "HOME": "/tmp"}

needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")


def mindspore_dir():
    import mindspore  # pylint: disable=import-outside-toplevel
    return os.path.dirname(mindspore.__file__)


def run(cmd, cwd=None, **env):
    return subprocess.run(cmd, cwd=cwd, env={**ENV, **env}, capture_output=True, text=True, timeout=600,
                          check=False)


def copy_infer(root, **copy_options):
    """A copy of ascend_310_infer/ under root, with the scripts/common.sh its build.sh sources."""
    shutil.copytree(INFER, root / "ascend_310_infer", **copy_options)
    (root / "scripts").mkdir()
    shutil.copy(os.path.join(ROOT, "scripts", "common.sh"), root / "scripts")
    return root / "ascend_310_infer"


@needs_gxx
def test_sources_compile_against_the_wheel_headers():
    result = run(["bash", os.path.join(INFER, "check_syntax.sh")])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok: main.cc" in result.stdout and "ok: utils.cc" in result.stdout


@pytest.mark.parametrize("script", ["build.sh", "check_syntax.sh"])
def test_scripts_answer_help_with_their_usage(script, tmp_path):
    infer = copy_infer(tmp_path)
    for flag in ("--help", "-h"):
        result = run(["bash", str(infer / script), flag])
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"Usage: bash ascend_310_infer/{script}" in result.stdout + result.stderr
        assert "ok: " not in result.stdout and "error" not in result.stderr  # nothing built or checked
    assert not (infer / "build").exists() and not (infer / "out").exists()
    wrong = run(["bash", str(infer / script), "extra"])
    assert wrong.returncode == 1 and "expected no argument" in wrong.stderr


def assert_refused_for_missing_library(result, infer, folder=""):
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"no libmindspore.so in {folder}" in result.stderr and "ships the C++ headers" in result.stderr
    assert not (infer / "build").exists()


def test_build_script_explains_a_missing_libmindspore(tmp_path):
    # A MindSpore folder with the wheel's headers but no library, on every host (an Ascend host's
    # installation does hold libmindspore.so, so the installed package cannot stand for this case).
    folder = tmp_path / "mindspore"
    (folder / "lib").mkdir(parents=True)
    os.symlink(os.path.join(mindspore_dir(), "include"), folder / "include")
    infer = copy_infer(tmp_path)
    result = run(["bash", str(infer / "build.sh")], MINDSPORE_PATH=str(folder))
    assert_refused_for_missing_library(result, infer, f"{folder}/lib")


def test_build_script_finds_the_installed_package_and_explains_its_missing_library(tmp_path):
    if os.path.exists(os.path.join(mindspore_dir(), "lib", "libmindspore.so")):
        pytest.skip("the installed MindSpore holds libmindspore.so (an Ascend installation): build.sh would build")
    infer = copy_infer(tmp_path)
    assert_refused_for_missing_library(run(["bash", str(infer / "build.sh")]), infer)


@pytest.fixture(scope="module")
def built_program(tmp_path_factory):
    """out/main built by build.sh + CMake, linked against the stand-in library."""
    if shutil.which("g++") is None or shutil.which("cmake") is None:
        pytest.skip("g++ and cmake are needed to build the program")
    work = tmp_path_factory.mktemp("infer_build")
    fake_mindspore = work / "mindspore"
    (fake_mindspore / "lib").mkdir(parents=True)
    os.symlink(os.path.join(mindspore_dir(), "include"), fake_mindspore / "include")
    stub = run(["g++", "-std=c++17", "-shared", "-fPIC", "-D_GLIBCXX_USE_CXX11_ABI=0",
                "-isystem", str(fake_mindspore), "-isystem", str(fake_mindspore / "include"),
                os.path.join(INFER, "test", "mindspore_stub.cc"), "-o", str(fake_mindspore / "lib" / "libmindspore.so")])
    assert stub.returncode == 0, stub.stderr
    infer = copy_infer(work, ignore=shutil.ignore_patterns("build", "out"))
    build = run(["bash", str(infer / "build.sh")], MINDSPORE_PATH=str(fake_mindspore))
    assert build.returncode == 0, build.stdout + build.stderr
    program = infer / "out" / "main"
    assert program.exists()
    return program


def write_bins(folder, arrays):
    folder.mkdir(parents=True)
    for name, array in arrays.items():
        array.astype(np.float32).tofile(folder / f"{name}.bin")


def test_program_feeds_every_bin_in_name_order(built_program, tmp_path):
    # The stand-in model: one input of shape (1, 2, 3); outputs 2 * x and sum(x).
    (tmp_path / "model.mindir").write_text("1,2,3\n")
    rng = np.random.default_rng(0)
    clips = {f"clip_{i:03d}": rng.standard_normal((1, 2, 3)) for i in (2, 0, 10)}
    write_bins(tmp_path / "bins", clips)
    (tmp_path / "bins" / "notes.txt").write_text("not an input")
    result = run([str(built_program), "--mindir_path", str(tmp_path / "model.mindir"), "--input_path",
                  str(tmp_path / "bins"), "--device_target=CPU", "--output_path", str(tmp_path / "out")])
    assert result.returncode == 0, result.stderr
    order = [line.split("/")[-1] for line in result.stdout.splitlines() if line.startswith("predict ")]
    assert order == ["clip_000.bin", "clip_002.bin", "clip_010.bin"]
    for name, clip in clips.items():
        doubled = np.fromfile(tmp_path / "out" / "result_Files" / f"{name}_0.bin", np.float32)
        total = np.fromfile(tmp_path / "out" / "result_Files" / f"{name}_1.bin", np.float32)
        np.testing.assert_allclose(doubled, 2 * clip.astype(np.float32).ravel(), rtol=1e-6)
        np.testing.assert_allclose(total, [clip.astype(np.float32).sum()], rtol=1e-5)
    assert sorted(os.listdir(tmp_path / "out" / "result_Files")) == sorted(
        f"{name}_{k}.bin" for name in clips for k in (0, 1))
    timing = (tmp_path / "out" / "time_Result" / "test_perform_static.txt").read_text()
    assert timing.startswith("NN inference cost average time: ") and timing.endswith("ms of infer_count 3\n")


def test_program_pairs_the_folders_of_a_multi_input_model(built_program, tmp_path):
    (tmp_path / "model.mindir").write_text("2,4\n3\n")
    first = {"a": np.ones((2, 4)), "b": np.full((2, 4), 2.0)}
    second = {"a": np.arange(3.0), "b": np.arange(3.0) * 10}
    write_bins(tmp_path / "x0", first)
    write_bins(tmp_path / "x1", second)
    result = run([str(built_program), "--mindir_path", str(tmp_path / "model.mindir"),
                  "--input_path", f"{tmp_path}/x0,{tmp_path}/x1", "--output_path", str(tmp_path / "out"),
                  "--device_target", "Ascend", "--device_id", "3"])
    assert result.returncode == 0, result.stderr
    totals = {name: np.fromfile(tmp_path / "out" / "result_Files" / f"{name}_1.bin", np.float32)[0]
              for name in ("a", "b")}
    assert totals == {"a": pytest.approx(8 + 3), "b": pytest.approx(16 + 30)}


def test_program_errors_are_clear(built_program, tmp_path):
    (tmp_path / "model.mindir").write_text("1,2,3\n")
    write_bins(tmp_path / "bins", {"clip": np.zeros((1, 2, 2))})
    base = [str(built_program), "--mindir_path", str(tmp_path / "model.mindir"), "--device_target", "CPU",
            "--output_path", str(tmp_path / "out")]
    cases = {
        "holds 16 bytes but input 0 'x0' of shape (1, 2, 3) needs 24 bytes": ["--input_path", str(tmp_path / "bins")],
        "the model has 1 input(s) but --input_path names 2 folder(s)":
            ["--input_path", f"{tmp_path}/bins,{tmp_path}/bins"],
        "cannot open input folder": ["--input_path", str(tmp_path / "absent")],
        "unknown option --batch": ["--input_path", str(tmp_path / "bins"), "--batch", "2"],
        "--device_target must be Ascend, GPU or CPU": ["--input_path", str(tmp_path / "bins"), "--device_target", "NPU"],
    }
    for message, extra in cases.items():
        result = run(base + extra)
        assert result.returncode == 1 and message in result.stderr, (message, result.stderr)
    # --input_shape resizes the input so the smaller files fit.
    resized = run(base + ["--input_path", str(tmp_path / "bins"), "--input_shape", "1,2,2"])
    assert resized.returncode == 0, resized.stderr
    missing = run([str(built_program), "--input_path", str(tmp_path / "bins")])
    assert missing.returncode == 1 and "--mindir_path and --input_path are required" in missing.stderr
