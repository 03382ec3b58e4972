"""AR@AN and AUC of a proposals file: ``python -m src.tools.eval_proposals --ground_truth GT.json --proposals P.json``.

GT.json is the official ActivityNet ground truth or the BSN/BMN ``anet_anno_action.json`` (its
subsets from ``--video_info`` video_info_new.csv, or from a ``subset`` field per video as in
PaddleVideo's labels); P.json is a proposals file in the official format. Video ids are compared
without a leading ``v_``; ids that needed that are counted. The metrics are those of the official
``eval_proposal.py`` (:mod:`src.metrics.proposal_metrics`).
"""
import sys

from src.data.ground_truth import load_ground_truth, load_proposals, strip_video_prefix
from src.metrics.proposal_metrics import SUMMARY_KEYS, plot_ar_an, proposal_metrics
from src.tools.cli import run_main, tool_parser

__all__ = ["build_parser", "main"]


def build_parser():
    parser = tool_parser("src.tools.eval_proposals", __doc__)
    parser.add_argument("--ground_truth", required=True,
                        help="official ActivityNet ground-truth JSON, or BSN/BMN anet_anno_action.json")
    parser.add_argument("--video_info", default="", help="video_info_new.csv giving the subsets of a BSN/BMN file")
    parser.add_argument("--proposals", required=True, help="proposals JSON (official format)")
    parser.add_argument("--subset", default="validation", help="subset of the ground truth to evaluate")
    parser.add_argument("--max_avg_nr_proposals", type=float, default=100, help="average proposals per video")
    parser.add_argument("--plot", default="", help="write the AR-AN curve to this PNG")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return run_main(lambda: _evaluate(args), known_errors=(OSError, ValueError))


def _evaluate(args) -> int:
    notes = []
    ground_truth = strip_video_prefix(load_ground_truth(args.ground_truth, args.subset, args.video_info),
                                      args.ground_truth, notes)
    proposals = strip_video_prefix(load_proposals(args.proposals), args.proposals, notes)
    metrics = proposal_metrics(ground_truth, proposals, args.max_avg_nr_proposals)
    for note in notes:
        print(f"note: {note}")
    print("  ".join(f"{key} {metrics[key]:.2f}" for key in SUMMARY_KEYS))
    if metrics["missing_videos"]:
        print(f"{len(metrics['missing_videos'])} ground-truth video(s) have no proposals (zero recall), "
              f"e.g. {', '.join(metrics['missing_videos'][:5])}")
    if args.plot:
        print(f"wrote {plot_ar_an(metrics, args.plot)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
