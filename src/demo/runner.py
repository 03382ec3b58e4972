"""The demo behind ``scripts/run_demo.sh``: a generated dataset, prepared and learned end to end.

``python -m src.demo --model i3d|resnet3d|tsn|bmn|all [--work_dir demo_work]``

Every step runs the same command a user would (``python -m src.demo.make_demo_dataset`` /
``make_bmn_demo``, ``python -m src.tools.data.*``, ``python -m src.applications.proposals``,
``train.py``, ``eval.py``, ``export.py``) with the demo configs in ``configs/*/demo*.yaml``, prints
its wall time, and the run ends with a table of the figures it reached (also written to
``<work_dir>/summary_<model>.json`` and ``.md``). When the demo is started again, the generated
videos and every training that ran all its epochs are kept (delete the work folder to start over).
``--repeats N`` runs it N times, in ``<work_dir>/run_1`` ... ``run_N``, and writes the figures of
every run and their spread to ``<work_dir>/spread_<model>.json`` and ``.md``. Every training uses
``--seed`` (default 1, the configs' default); with ``--seed_per_run True`` run k uses seed + k - 1.
The trainings skip train.py's own evaluations (``--eval_while_training True`` keeps them): the
figures come from the joint evaluation of both streams' last checkpoints.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import time
from typing import Dict, List

from src.config import load_config
from src.demo.make_bmn_demo import DEMO_INTERVAL, DEMO_SNIPPET, DEMO_TRAIN, DEMO_VAL, prior_baseline
from src.metrics.proposal_metrics import SUMMARY_KEYS
from src.options import parse_bool
from src.tools.cli import tool_parser

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = ("i3d", "resnet3d", "tsn", "bmn")
# TSN scores single frames (or short snippets) and averages them, and no frame of the demo's motion
# classes shows the class: its demo trains the TSN paper's RGB-difference stream beside flow
# (configs/tsn/demo_rgb.yaml, plain RGB, stays at chance).
APPEARANCE_CONFIGS = {"tsn": "demo_rgbdiff.yaml"}


def _trained_all_epochs(history: List[Dict], cfg) -> bool:
    """Whether a training with ``history`` has finished the ``num_epochs`` of its config ``cfg``."""
    return bool(history) and history[-1]["epoch"] >= cfg.num_epochs


def _history(history_path: str) -> List[Dict]:
    """The epoch records train.py wrote to ``history_path`` (none yet: an empty list)."""
    if not os.path.isfile(history_path):
        return []
    with open(history_path, encoding="utf-8") as handle:
        return json.load(handle)


class Demo:
    """Runs the demo's commands in order, timing each one."""

    def __init__(self, work_dir: str, flow_method: str, seed: int = 1, eval_while_training: bool = False):
        self.work = os.path.abspath(work_dir)
        self.flow_method = flow_method
        self.seed = seed  # of every training (initialisation, data order, augmentation)
        self.eval_while_training = eval_while_training  # train.py's evaluations (eval_interval of the configs)
        self.timings: List[Dict] = []
        os.makedirs(self.work, exist_ok=True)

    def path(self, *parts: str) -> str:
        return os.path.join(self.work, *parts)

    def run(self, title: str, args: List[str], done: bool = False) -> None:
        """Run ``python args...`` from the project root unless the step is already ``done``."""
        if done:
            print(f"[demo] {title}: already done", flush=True)
            return
        if args[0] == "train.py":
            args = args + ["--seed", str(self.seed)]
        print(f"\n[demo] {title}\n[demo] $ python {' '.join(args)}", flush=True)
        start = time.time()
        subprocess.run([sys.executable] + args, cwd=ROOT, check=True)
        seconds = time.time() - start
        self.timings.append({"step": title, "seconds": round(seconds, 1)})
        print(f"[demo] {title}: {seconds:.1f} s", flush=True)

    # --- data ---------------------------------------------------------------------------------
    def prepare_videos(self) -> None:
        """Demo videos (UCF101 layout) -> frames -> flow -> annotation JSON."""
        data = self.path("data")
        self.run("generate the demo videos",
                 ["-m", "src.demo.make_demo_dataset", "--out", data, "--num_workers", "2"],
                 done=os.path.exists(os.path.join(data, "ucfTrainTestlist", "testlist01.txt")))
        self.run("extract RGB frames", ["-m", "src.tools.data.generate_rgb_jpgs", "--src_path",
                                        os.path.join(data, "videos"), "--dst_path", self.path("jpg"),
                                        "--num_workers", "2"])
        self.run(f"compute optical flow ({self.flow_method})",
                 ["-m", "src.tools.data.convert_rgb_to_flow", "--src_path", self.path("jpg"), "--dst_path",
                  self.path("flow"), "--method", self.flow_method, "--num_workers", "2"])
        self.run("write the annotation JSON", ["-m", "src.tools.data.ucf101_json", "--annotation_dir",
                                               os.path.join(data, "ucfTrainTestlist"), "--video_path",
                                               self.path("jpg"), "--split", "1", "--dst_path",
                                               self.path("annotation", "demo_01.json")])

    # --- recognizers --------------------------------------------------------------------------
    def train_stream(self, model: str, config: str) -> Dict:
        """Train the stream of ``config`` (its ``mode``) unless done; its last checkpoint and times."""
        cfg = load_config(os.path.join(ROOT, config))
        mode = cfg.mode
        out = self.path(f"{model}_{mode}")
        history_path = os.path.join(out, "checkpoints", "history.json")
        frames = self.path("flow" if mode == "flow" else "jpg")
        # The joint evaluation scores both streams' last checkpoints on the test videos; train.py's own
        # evaluations would spend time on the same figures (precise BN still runs).
        self.run(f"train {model} {mode}", ["train.py", "--config_path", config, "--save_dir", out,
                                           "--video_path", frames,
                                           "--annotation_path", self.path("annotation", "demo_01.json"),
                                           "--no_eval", str(not self.eval_while_training)],
                 done=_trained_all_epochs(_history(history_path), cfg))
        history = _history(history_path)
        # The last epoch's weights, not the best epoch's: the demo's validation split is its test split,
        # and picking an epoch by test accuracy would flatter the figures.
        last = os.path.join(out, "checkpoints", f"{model}_demo_{mode}-{history[-1]['epoch']}_*.ckpt")
        return {"mode": mode, "checkpoint": glob.glob(last)[0],
                "train_seconds": round(sum(h["epoch_seconds"] for h in history), 1),
                "step_seconds": history[-1]["step_seconds"]}

    def joint_eval(self, model: str, config: str, rgb: Dict, flow: Dict) -> Dict:
        out = self.path(f"{model}_joint")
        self.run(f"joint evaluation {model}", [
            "eval.py", "--config_path", config, "--test_mode", "joint", "--rgb_path", rgb["checkpoint"],
            "--flow_path", flow["checkpoint"], "--video_path", self.path("jpg"),
            "--video_path_joint_flow", self.path("flow"),
            "--annotation_path", self.path("annotation", "demo_01.json"), "--save_dir", out])
        with open(os.path.join(out, "results.json"), encoding="utf-8") as handle:
            return json.load(handle)

    def export(self, model: str, config: str, checkpoint: str, mode: str) -> None:
        self.run(f"export {model} {mode} to MINDIR", [
            "export.py", "--config_path", config, "--checkpoint_path", checkpoint, "--batch_size", "1",
            "--file_format", "MINDIR", "--file_name", self.path(f"{model}_demo_{mode}")])

    def two_stream(self, model: str, rgb_config: str, flow_config: str) -> Dict:
        """Train the appearance stream of ``rgb_config`` (RGB or RGB difference) and the flow stream,
        evaluate them jointly and export the first."""
        rgb = self.train_stream(model, rgb_config)
        flow = self.train_stream(model, flow_config)
        joint = self.joint_eval(model, rgb_config, rgb, flow)
        self.export(model, rgb_config, rgb["checkpoint"], rgb["mode"])
        return {f"{rgb['mode']} top-1": joint["rgb_top1"], "flow top-1": joint["flow_top1"],
                "joint top-1": joint["top1"], "joint top-5": joint["top5"], "fusion": joint["fusion"],
                "train seconds (rgb / flow)": f"{rgb['train_seconds']} / {flow['train_seconds']}"}


RECOGNIZER_CONFIG = "configs/bmn/demo_recognizer.yaml"
BMN_CONFIGS = {"duration_start": "configs/bmn/demo.yaml", "start_end": "configs/bmn/demo_start_end.yaml"}


def run_bmn_demo(demo) -> dict:
    """The BMN part of ``python -m src.demo`` (``demo`` runs and times the commands): a flow
    recognizer trained on the recognition demo's videos gives snippet features of generated long
    videos; BMN (both conventions) is trained on the training videos' features; the held-out videos
    go through the one long-video command (videos -> flow -> features -> BMN -> proposals, scored).
    Returns the figures reached, with a feature-blind baseline for comparison."""
    demo.prepare_videos()
    recognizer_out = demo.path("bmn_recognizer")
    history_path = os.path.join(recognizer_out, "checkpoints", "history.json")
    demo.run("train the feature recognizer (R3D-10 flow)",
             ["train.py", "--config_path", RECOGNIZER_CONFIG, "--save_dir", recognizer_out,
              "--video_path", demo.path("flow"), "--annotation_path", demo.path("annotation", "demo_01.json")],
             done=_trained_all_epochs(_history(history_path), load_config(os.path.join(ROOT, RECOGNIZER_CONFIG))))
    recognizer = os.path.join(recognizer_out, "checkpoints", "resnet3d_demo_flow_best.ckpt")
    data = demo.path("bmn_long")
    annotation, video_info = os.path.join(data, "anet_anno_action.json"), os.path.join(data, "video_info_new.csv")
    demo.run("generate the long videos", [
        "-m", "src.demo.make_bmn_demo", "--out", data, "--num_train", str(DEMO_TRAIN), "--num_val", str(DEMO_VAL),
        "--snippet_frames", str(DEMO_SNIPPET), "--interval", str(DEMO_INTERVAL), "--seed", "0", "--num_workers", "2"],
             done=os.path.isfile(video_info))
    features = os.path.join(data, "features")
    demo.run("snippet features of the training videos (DIS flow -> R3D-10)", [
        "-m", "src.tools.data.extract_features", "--src_path", os.path.join(data, "videos", "train"),
        "--dst_path", features, "--flow_config", RECOGNIZER_CONFIG, "--flow_checkpoint", recognizer,
        "--snippet_frames", str(DEMO_SNIPPET), "--interval", str(DEMO_INTERVAL),
        "--tscale", str(load_config(os.path.join(ROOT, BMN_CONFIGS["duration_start"])).tscale),
        "--subset", "training", "--num_workers", "2"])
    figures = {}
    for layout, config in BMN_CONFIGS.items():
        out = demo.path(f"bmn_{layout}")
        demo.run(f"train BMN ({layout})", ["train.py", "--config_path", config, "--save_dir", out,
                                           "--feature_path", features, "--annotation_path", annotation,
                                           "--video_info_path", video_info])
        history = _history(os.path.join(out, "checkpoints", "history.json"))
        # the last epoch's weights: no held-out video takes part in training or in choosing an epoch
        last = glob.glob(os.path.join(out, "checkpoints", f"bmn_demo-{history[-1]['epoch']}_*.ckpt"))[0]
        held_out = demo.path(f"bmn_{layout}_held_out")
        demo.run(f"held-out long videos -> proposals ({layout}, one command)", [
            "-m", "src.applications.proposals", "--src_path", os.path.join(data, "videos", "val"),
            "--out_dir", held_out, "--flow_config", RECOGNIZER_CONFIG, "--flow_checkpoint", recognizer,
            "--bmn_config", config, "--bmn_checkpoint", last, "--ground_truth", annotation,
            "--video_info", video_info, "--snippet_frames", str(DEMO_SNIPPET), "--interval", str(DEMO_INTERVAL)])
        with open(os.path.join(held_out, "metrics.json"), encoding="utf-8") as handle:
            metrics = json.load(handle)
        figures.update({f"{layout} {key}": metrics[key] for key in SUMMARY_KEYS})
        figures[f"{layout} train seconds"] = round(sum(record["epoch_seconds"] for record in history), 1)
        figures[f"{layout} long-video command, s per minute of video"] = metrics["seconds_per_video_minute"]
    baseline = prior_baseline(annotation, video_info)
    figures.update({f"baseline {key}": baseline[key] for key in SUMMARY_KEYS})
    return figures


def run_model(demo: Demo, model: str) -> Dict:
    if model == "bmn":  # feature-based: its own data
        return run_bmn_demo(demo)
    demo.prepare_videos()
    appearance = APPEARANCE_CONFIGS.get(model, "demo_rgb.yaml")
    return demo.two_stream(model, f"configs/{model}/{appearance}", f"configs/{model}/demo_flow.yaml")


def format_table(model: str, figures: Dict) -> str:
    lines = [f"| {model} | value |", "|---|---|"]
    lines += [f"| {key} | {value:.2f} |" if isinstance(value, float) else f"| {key} | {value} |"
              for key, value in figures.items()]
    return "\n".join(lines)


def spread_table(model: str, runs: List[Dict]) -> str:
    """Markdown table of ``runs`` (figures and total seconds of each repeat) with the range of
    every numeric figure across them; runs trained with different seeds name their seed."""
    keys = [key for key, value in runs[0]["figures"].items() if isinstance(value, float)]
    seeds = [run.get("seed") for run in runs]
    names = [f"run {i + 1}" + (f" (seed {seed})" if len(set(seeds)) > 1 else "") for i, seed in enumerate(seeds)]
    lines = [f"| {model} | " + " | ".join(names) + " | min–max (spread) |",
             "|---" * (len(runs) + 2) + "|"]
    for key in keys:
        values = [run["figures"][key] for run in runs]
        lines.append(f"| {key} | " + " | ".join(f"{v:.2f}" for v in values) +
                     f" | {min(values):.2f}–{max(values):.2f} ({max(values) - min(values):.2f}) |")
    seconds = [run["seconds"] for run in runs]
    lines.append("| whole demo (s) | " + " | ".join(f"{s:.0f}" for s in seconds) +
                 f" | {min(seconds):.0f}–{max(seconds):.0f} |")
    return "\n".join(lines)


SAVED_KEYS = ("figures", "seed", "timings", "seconds")  # of a run, in summary_*.json and spread_*.json


def run_once(work_dir: str, models, flow_method: str, seed: int = 1, eval_while_training: bool = False
             ) -> Dict[str, Dict]:
    """One demo of ``models`` in ``work_dir``: per model its figures, step timings and seconds."""
    demo = Demo(work_dir, flow_method, seed, eval_while_training)
    start = time.time()
    results = {}
    for model in models:
        model_start, first_step = time.time(), len(demo.timings)
        figures = run_model(demo, model)
        table = format_table(model, figures)
        results[model] = {"figures": figures, "seed": seed, "timings": demo.timings[first_step:],
                          "seconds": round(time.time() - model_start, 1), "table": table}
        with open(demo.path(f"summary_{model}.json"), "w", encoding="utf-8") as handle:
            json.dump({key: results[model][key] for key in SAVED_KEYS}, handle, indent=1)
        with open(demo.path(f"summary_{model}.md"), "w", encoding="utf-8") as handle:
            handle.write(table + "\n")
    print("\n[demo] step timings:")
    for timing in demo.timings:
        print(f"  {timing['seconds']:8.1f} s  {timing['step']}")
    print(f"[demo] total {time.time() - start:.1f} s\n")
    print("\n\n".join(result["table"] for result in results.values()))
    return results


def build_parser() -> argparse.ArgumentParser:
    parser = tool_parser("src.demo", __doc__)
    parser.add_argument("--model", default="i3d", choices=MODELS + ("all",), help="what the demo trains")
    parser.add_argument("--work_dir", default="demo_work", help="folder of every demo output")
    parser.add_argument("--flow_method", default="dis", choices=("dis", "farneback", "tvl1"),
                        help="optical flow of the demo (TV-L1 is the I3D paper's, ~100x slower on CPU)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="run the whole demo this many times, each in its own folder <work_dir>/run_<k> "
                             "(from scratch when that folder is new), and tabulate the spread of the figures")
    parser.add_argument("--seed", type=int, default=1, help="seed of every training of the demo")
    parser.add_argument("--seed_per_run", type=parse_bool, default=False,
                        help="with --repeats: run k trains with seed + k - 1, so the spread shows how much the "
                             "result depends on the seed (the default repeats one seed: reproducibility)")
    parser.add_argument("--eval_while_training", type=parse_bool, default=False,
                        help="let train.py evaluate at the eval_interval of the configs too (curves with top-1; "
                             "slower). The demo's figures come from the joint evaluation of the last checkpoints "
                             "either way")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.repeats < 1:
        raise SystemExit(f"--repeats must be at least 1, got {args.repeats}")
    models = MODELS if args.model == "all" else (args.model,)
    if args.repeats == 1:
        run_once(args.work_dir, models, args.flow_method, args.seed, args.eval_while_training)
        return 0
    runs = [run_once(os.path.join(args.work_dir, f"run_{k}"), models, args.flow_method,
                     args.seed + (k - 1 if args.seed_per_run else 0), args.eval_while_training)
            for k in range(1, args.repeats + 1)]
    for model in models:
        per_run = [run[model] for run in runs]
        table = spread_table(model, per_run)
        with open(os.path.join(args.work_dir, f"spread_{model}.json"), "w", encoding="utf-8") as handle:
            json.dump([{key: run[key] for key in SAVED_KEYS} for run in per_run], handle, indent=1)
        with open(os.path.join(args.work_dir, f"spread_{model}.md"), "w", encoding="utf-8") as handle:
            handle.write(table + "\n")
        print(f"\n[demo] {args.repeats} runs of {model}:\n{table}")
    return 0


if __name__ == "__main__":  # the same program as ``python -m src.demo``
    sys.exit(main())
