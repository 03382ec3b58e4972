"""Progress bars: tqdm on a terminal, a few plain lines (no carriage returns) in a log file."""
import os
import subprocess
import sys

from tqdm import tqdm

from src.tools.data.videos import VideoOutcome, run_per_video
from src.utils import progress as progress_module
from src.utils.progress import PlainProgress, progress

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

LOOP = """
import time
from src.utils.progress import progress
total = 0
for value in progress(range(200), desc="iterated", unit="clip"):
    total += value
    time.sleep(0.001)
with progress(total=40, desc="driven", unit="video", leave=False, dynamic_ncols=True) as bar:
    for step in range(40):
        bar.set_postfix(loss=f"{1 / (step + 1):.4f}")
        bar.update()
print(total)
"""


def test_without_a_terminal_a_loop_writes_a_few_plain_lines(tmp_path):
    log = tmp_path / "job.log"
    with open(log, "w") as handle:
        result = subprocess.run([sys.executable, "-c", LOOP], cwd=ROOT, stdout=subprocess.PIPE, stderr=handle,
                                env=dict(os.environ, PYTHONPATH=ROOT), text=True, timeout=120, check=False)
    text = log.read_text()
    assert result.returncode == 0, text
    assert result.stdout.strip() == str(sum(range(200)))
    assert "\r" not in text and "\x1b" not in text
    iterated = [line for line in text.splitlines() if "iterated: " in line]
    driven = [line for line in text.splitlines() if "driven: " in line]
    assert len(text.splitlines()) == len(iterated) + len(driven)
    assert 3 <= len(iterated) <= 12 and 3 <= len(driven) <= 12  # one per 10%, not one per step
    assert "20/200 (10%) clip" in iterated[0] and "clip/s" in iterated[0] and "left" in iterated[0]
    assert "200/200 (100%) clip" in iterated[-1] and iterated[-1].endswith("done")
    assert "40/40 (100%) video" in driven[-1] and "loss=0.0250" in driven[-1]


def test_lines_follow_the_interval_when_the_total_is_unknown(capsys, monkeypatch):
    clock = iter(range(0, 1000, 10))  # 10 s per reading
    monkeypatch.setattr(progress_module, "_now", lambda: next(clock))
    items = list(PlainProgress(iter(range(9)), desc="stream", interval=30))
    assert items == list(range(9))
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" ", 1)[1].split(",")[0] for line in lines] == [
        "stream: 3 it", "stream: 6 it", "stream: 9 it"]


def test_a_loop_left_early_says_so_and_a_disabled_bar_writes_nothing(capsys):
    for value in progress(range(10), desc="early"):
        if value == 4:
            break
    assert capsys.readouterr().err.splitlines()[-1].endswith("stopped")
    for _ in progress(range(10), desc="quiet", disable=True):
        pass
    assert capsys.readouterr().err == ""


def test_on_a_terminal_it_is_tqdm(monkeypatch):
    class Terminal:
        def isatty(self):
            return True

        def write(self, text):
            pass

        def flush(self):
            pass

    monkeypatch.setattr(sys, "stderr", Terminal())
    bar = progress(range(3), desc="tty", leave=False)
    assert isinstance(bar, tqdm) and list(bar) == [0, 1, 2]


def _done(item):
    return VideoOutcome(str(item), "done")


def test_a_tool_run_without_a_terminal_logs_plain_lines(capsys):
    outcomes = run_per_video(_done, list(range(30)), 1, "videos")
    assert [outcome.name for outcome in outcomes] == [str(i) for i in range(30)]
    err = capsys.readouterr().err
    assert "\r" not in err and "videos: 30/30 (100%) video" in err.splitlines()[-1]
