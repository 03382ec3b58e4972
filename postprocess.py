"""Offline-inference metrics from the inference program's ``result_Files``.

* one stream: ``python postprocess.py --result_path OUT [--pre_result_path PRE]``: top-1 / top-5 /
  mean class accuracy with the views of each video averaged as eval.py does;
* joint: ``python postprocess.py --rgb_result_path OUT_RGB --flow_result_path OUT_FLOW
  [--pre_result_path PRE_JOINT] [--joint_fusion logits_sum|softmax_avg]``;
* BMN (results of a BMN model, found in the meta): proposals JSON (official format), AR@1/5/10/100,
  AUC and the AR-AN curve; Soft-NMS settings from ``--config_path``, else from the preprocessing
  configuration recorded in meta.json.

``OUT`` is the inference ``--output_path`` (holding ``result_Files/``); the batches' ``meta.json`` is
read from ``PRE`` (the preprocess.py folder; for joint its ``rgb/`` and ``flow/``) or from ``OUT``.
Results: ``results.json`` (+ confusion PNG and ``scores.npz``, or BMN proposals and curve) in
``--postprocess_path`` (default: ``OUT``; joint: ``<dataset>_joint`` beside ``OUT_RGB``).
"""
from src.config import get_config
from src.engine.offline import score_offline_results
from src.utils.command import run_command
from src.utils.runtime import say_device


def main():
    cfg = get_config(description=__doc__)
    say_device("device: none needed (postprocess.py runs no network; it scores saved results on the CPU)")
    score_offline_results(cfg)


if __name__ == "__main__":
    run_command(main)
