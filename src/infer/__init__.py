"""Offline (Ascend 310) inference chain: validation data -> .bin batches -> MindIR runner -> metrics.

* :mod:`src.infer.bins` writes the validation split as raw float32 batches in the exported model's
  input layout with a ``meta.json`` describing every row (``preprocess.py``), and reads results back;
* :mod:`src.infer.mindir_runner` runs a MINDIR over a folder of batches with the same inputs and
  outputs as the C++ program ``ascend_310_infer/out/main`` (for hosts without libmindspore.so);
* :mod:`src.infer.scoring` turns ``result_Files`` into the metrics eval.py reports
  (``postprocess.py``).
"""
