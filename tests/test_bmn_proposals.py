"""BMN post-processing (candidates, Soft-NMS, seconds) and the AR@AN / AUC metric."""
import json

import numpy as np
import pytest

from src.config import load_config
from src.metrics.proposal_metrics import TIOU_THRESHOLDS, average_recall_vs_proposals, plot_ar_an, proposal_metrics
from src.proposals.bmn_proposals import SoftNMSParams, boundary_candidates, map_candidates, proposals_of_videos, \
    soft_nms, video_proposals, write_proposals
from src.tools.eval_proposals import main as metric_main


# --- post-processing ---------------------------------------------------------------------------

def test_boundary_candidates_are_peaks_or_above_half_max():
    scores = np.array([0.1, 0.3, 0.2, 0.05, 0.9, 0.6, 0.1, 0.2])
    # 1: peak; 4: peak; 5: > 0.45; 0: forced (start); 7 is the last step (only forced for ends)
    assert boundary_candidates(scores, 0).nonzero()[0].tolist() == [0, 1, 4, 5]
    assert boundary_candidates(scores, 7).nonzero()[0].tolist() == [1, 4, 5, 7]


def test_map_candidates_pairs_scores_and_layout():
    tscale = 6
    start = np.array([0.1, 0.9, 0.1, 0.1, 0.1, 0.1])   # candidates 0 (forced), 1
    end = np.array([0.1, 0.1, 0.1, 0.8, 0.1, 0.1])     # candidates 3, 5 (forced)
    confidence = np.zeros((2, tscale, tscale))
    confidence[0] = 0.5
    confidence[1] = 0.25
    confidence[1, 1, 1] = 1.0  # (duration 1, start 1) -> segment [1/6, 3/6]
    rows = {(round(a * tscale), round(b * tscale)): s for a, b, s in map_candidates(start, end, confidence)}
    # end step 5 is the last step: e = s + d + 1 < T allows it; pairs (0,3), (0,5), (1,3), (1,5)
    assert set(rows) == {(0, 3), (0, 5), (1, 3), (1, 5)}
    assert rows[(1, 3)] == pytest.approx(0.9 * 0.8 * 1.0 * 0.5)
    assert rows[(0, 5)] == pytest.approx(0.1 * 0.1 * 0.25 * 0.5)


def test_soft_nms_on_hand_made_proposals():
    params = SoftNMSParams(alpha=0.4, low_threshold=0.5, high_threshold=0.9, top_k=10)
    candidates = np.array([[0.10, 0.50, 0.9],    # A
                           [0.12, 0.50, 0.8],    # B: tIoU 0.95 with A > 0.5 + 0.4 * 0.4 -> decayed
                           [0.60, 0.90, 0.7],    # C: no overlap -> kept as is
                           [0.10, 0.30, 0.6]])   # D: tIoU 0.5 with A < 0.66 -> not decayed by A
    kept = soft_nms(candidates, params)
    iou_ab = 0.38 / 0.40
    expected_b = 0.8 * np.exp(-iou_ab ** 2 / 0.4)
    # after A and C, D (0.6) beats B; D (width 0.2, threshold 0.58) overlaps B at 0.18 / 0.4 = 0.45: no decay
    np.testing.assert_allclose(kept[:, 2], [0.9, 0.7, 0.6, expected_b], rtol=1e-9)
    np.testing.assert_allclose(kept[:, :2], candidates[[0, 2, 3, 1], :2])
    assert len(soft_nms(candidates, SoftNMSParams(top_k=2))) == 2


def test_video_proposals_are_in_seconds_and_capped():
    tscale = 10
    start = np.linspace(0.9, 0.1, tscale)
    end = np.linspace(0.1, 0.9, tscale)
    confidence = np.full((2, tscale, tscale), 0.5)
    proposals = video_proposals(start, end, confidence, duration=50.0, params=SoftNMSParams(top_k=5))
    assert len(proposals) == 5
    for proposal in proposals:
        begin, finish = proposal["segment"]
        assert 0 <= begin < finish <= 50.0
        assert np.isclose(begin / 5.0, round(begin / 5.0))  # multiples of duration / tscale
    assert [p["score"] for p in proposals] == sorted((p["score"] for p in proposals), reverse=True)


def test_parallel_post_processing_equals_serial(tmp_path):
    rng = np.random.default_rng(0)
    outputs = [(f"video{i}", float(rng.uniform(10, 100)), rng.uniform(0, 1, 16), rng.uniform(0, 1, 16),
                rng.uniform(0, 1, (2, 16, 16))) for i in range(70)]
    serial = proposals_of_videos(outputs, SoftNMSParams(), num_workers=1)
    parallel = proposals_of_videos(outputs, SoftNMSParams(), num_workers=2)
    assert serial == parallel
    path = write_proposals(serial, str(tmp_path / "proposals.json"))
    data = json.load(open(path))
    assert set(data) == {"version", "results", "external_data"} and len(data["results"]) == 70


# --- metric --------------------------------------------------------------------------------------

def official_reference(ground_truth, proposals, max_avg=100):
    """A literal loop transcription of the official eval_proposal.py algorithm."""
    videos = [v for v, segs in ground_truth.items() if segs]
    total = sum(len(p) for p in proposals.values())
    ratio = max_avg * len(videos) / total
    scores, total_kept = [], 0
    for video in videos:
        gt = np.array(ground_truth[video], dtype=float)
        entries = proposals.get(video, [])
        if not entries:
            scores.append(np.zeros((len(gt), 1)))
            continue
        segs = np.array([e["segment"] for e in entries], dtype=float)
        order = np.array([e["score"] for e in entries]).argsort()[::-1]
        segs = segs[order]
        n = min(int(len(segs) * ratio), len(segs))
        total_kept += n
        segs = segs[:n]
        tiou = np.zeros((len(gt), len(segs)))
        for i, (a, b) in enumerate(gt):
            for j, (c, d) in enumerate(segs):
                inter = max(0.0, min(b, d) - max(a, c))
                tiou[i, j] = inter / ((d - c) + (b - a) - inter)
        scores.append(tiou)
    pcn = np.arange(1, 101) / 100.0 * (max_avg * float(len(videos)) / total_kept)
    recall = np.empty((10, 100))
    for r, threshold in enumerate(TIOU_THRESHOLDS):
        matches = np.zeros((len(videos), 100))
        positives = np.zeros(len(videos))
        for i, score in enumerate(scores):
            positives[i] = score.shape[0]
            hits = score >= threshold
            used = np.minimum((score.shape[1] * pcn).astype(int), score.shape[1])
            for j, n in enumerate(used):
                matches[i, j] = np.count_nonzero(hits[:, :n].sum(axis=1))
        recall[r] = matches.sum(axis=0) / positives.sum()
    return recall, pcn * (float(total_kept) / len(videos))


def random_case(seed):
    rng = np.random.default_rng(seed)
    ground_truth, proposals = {}, {}
    for v in range(25):
        duration = rng.uniform(20, 200)
        starts = rng.uniform(0, duration * 0.7, rng.integers(1, 4))
        ground_truth[f"v{v}"] = [[s, min(duration, s + rng.uniform(2, duration * 0.5))] for s in starts]
        count = int(rng.integers(0, 130)) if v % 7 else 0  # some videos without proposals
        if v == 3:
            continue  # missing from the file
        begin = rng.uniform(0, duration * 0.8, count)
        proposals[f"v{v}"] = [{"segment": [b, min(duration, b + rng.uniform(1, duration * 0.6))],
                               "score": float(rng.uniform())} for b in begin]
    proposals["not_in_gt"] = [{"segment": [0, 5], "score": 0.5}] * 40
    ground_truth["no_segments"] = []
    return ground_truth, proposals


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metric_equals_official_algorithm(seed):
    ground_truth, proposals = random_case(seed)
    curve = average_recall_vs_proposals(ground_truth, proposals, 100)
    recall, per_video = official_reference(ground_truth, proposals, 100)
    np.testing.assert_allclose(curve["recall"], recall)
    np.testing.assert_allclose(curve["proposals_per_video"], per_video)
    assert curve["missing_videos"] == ["v3"]


def one_gt_per_video(count=20):
    return {f"v{i}": [[10.0 + i, 30.0 + i]] for i in range(count)}


def test_perfect_proposals_give_full_recall():
    ground_truth = one_gt_per_video()
    proposals = {video: [{"segment": segs[0], "score": 1.0}] +
                 [{"segment": [0.0, 1.0 + k], "score": 0.5 - k * 1e-3} for k in range(99)]
                 for video, segs in ground_truth.items()}
    metrics = proposal_metrics(ground_truth, proposals)
    for key in ("AR@1", "AR@5", "AR@10", "AR@100"):
        assert metrics[key] == pytest.approx(100.0)
    assert metrics["AUC"] == pytest.approx(99.0)  # trapz over AN 1..100 / 100
    assert metrics["missing_videos"] == []


def test_proposals_at_tiou_062_give_ar_030():
    ground_truth = one_gt_per_video()
    proposals = {}
    for video, ((start, end),) in ground_truth.items():
        length = end - start
        # shifted copy: overlap / union = (L - x) / (L + x) = 0.62 -> x = L * 0.38 / 1.62
        shift = length * 0.38 / 1.62
        proposals[video] = [{"segment": [start + shift, end + shift], "score": 1.0 - k * 1e-3} for k in range(100)]
    metrics = proposal_metrics(ground_truth, proposals)
    for key in ("AR@1", "AR@5", "AR@10", "AR@100"):
        assert metrics[key] == pytest.approx(30.0)
    assert metrics["AUC"] == pytest.approx(30.0 * 0.99)


def test_missing_videos_count_as_zero_recall_and_are_reported(tmp_path):
    ground_truth = one_gt_per_video(10)
    proposals = {video: [{"segment": segs[0], "score": 1.0}] for video, segs in list(ground_truth.items())[:5]}
    # one proposal per video: step k of the 100-step curve uses int(k / 100) proposals, so only the
    # last step (AR@100) uses it
    metrics = proposal_metrics(ground_truth, proposals, max_avg_nr_proposals=1)
    assert metrics["AR@100"] == pytest.approx(50.0) and metrics["AR@1"] == 0.0
    assert sorted(metrics["missing_videos"]) == [f"v{i}" for i in range(5, 10)]
    png = plot_ar_an(metrics, str(tmp_path / "curve.png"))
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_metric_cli_reads_official_files(tmp_path, capsys):
    ground_truth = one_gt_per_video(4)
    gt_file = tmp_path / "gt.json"
    gt_file.write_text(json.dumps({"version": "1.3", "taxonomy": [], "database": {
        video: {"subset": "validation", "annotations": [{"segment": segs[0], "label": "x"}]}
        for video, segs in ground_truth.items()}}))
    proposals = {video: [{"segment": segs[0], "score": 1.0}] for video, segs in ground_truth.items()}
    proposal_file = write_proposals(proposals, str(tmp_path / "p.json"))
    assert metric_main(["--ground_truth", str(gt_file), "--proposals", proposal_file,
                        "--max_avg_nr_proposals", "1"]) == 0
    assert "AR@100 100.00" in capsys.readouterr().out


def _jjboy_a92c1d79_candidates(start, end, confidence):
    """JJBOY a92c1d79's BMN_inference loop, written out: every cell [i, j] of the (start, end) map with
    i < j + 1 < T, scored start[i] * end[j + 1] * cls * reg."""
    tscale = len(start)
    rows = []
    for i in range(tscale):
        for j in range(tscale):
            if i < j + 1 < tscale:
                rows.append([i / tscale, (j + 1) / tscale,
                             start[i] * end[j + 1] * confidence[1, i, j] * confidence[0, i, j]])
    return np.asarray(rows)


def test_every_cell_candidates_reproduce_jjboy_a92c1d79_top_100():
    rng = np.random.default_rng(4)
    tscale = 24
    start, end = rng.random(tscale), rng.random(tscale)
    confidence = rng.random((2, tscale, tscale))
    ours = map_candidates(start, end, confidence, "start_end", "every_cell")
    reference = _jjboy_a92c1d79_candidates(start, end, confidence)
    order = lambda rows: rows[np.lexsort((rows[:, 1], rows[:, 0]))]  # noqa: E731
    np.testing.assert_allclose(order(ours), order(reference))
    params = SoftNMSParams(candidates="every_cell")
    np.testing.assert_allclose(soft_nms(ours, params), soft_nms(reference, params))
    peaks = map_candidates(start, end, confidence, "start_end")
    assert len(peaks) < len(ours)  # the boundary-peak filter of the other references drops cells
    assert load_config("configs/bmn/activitynet_start_end.yaml").bmn_candidates == "every_cell"
    assert load_config("configs/bmn/activitynet.yaml").bmn_candidates == "boundary_peaks"
