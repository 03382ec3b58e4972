"""Offline (Ascend 310) inference: the .bin batch folders and a MINDIR runner over them.

* :mod:`src.infer.bins` is the folder format: raw float32 batches in the exported model's input
  layout with a ``meta.json`` describing every row, and the inference programs' result files;
* ``preprocess.py`` / ``postprocess.py`` (:mod:`src.engine.offline`) hand the work to the model's
  task (``src/tasks/<task>/offline.py``), which writes the batches and turns ``result_Files`` into
  the metrics eval.py reports;
* :mod:`src.infer.mindir_runner` runs a MINDIR over a folder of batches with the same inputs and
  outputs as the C++ program ``ascend_310_infer/out/main`` (for hosts without libmindspore.so).
"""
