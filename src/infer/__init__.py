"""Offline (Ascend 310) inference chain: validation data -> .bin batches -> MindIR runner -> metrics.

* :mod:`src.infer.bins` is the folder format: raw float32 batches in the exported model's input
  layout with a ``meta.json`` describing every row, and the inference programs' result files;
* :mod:`src.infer.offline` is ``preprocess.py`` / ``postprocess.py``: the model's task
  (``src/tasks/<task>/offline.py``) writes the batches and turns ``result_Files`` into the metrics
  eval.py reports;
* :mod:`src.infer.mindir_runner` runs a MINDIR over a folder of batches with the same inputs and
  outputs as the C++ program ``ascend_310_infer/out/main`` (for hosts without libmindspore.so).
"""
