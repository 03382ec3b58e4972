"""Inference outside the training graph: exported files, the backends that run them, the offline chain.

* :mod:`src.infer.export` writes a network as MINDIR / AIR / ONNX and checks the file against it;
* :mod:`src.infer.backends` runs inference on MindSpore or, exported to ONNX and cached beside the
  checkpoint, on ONNX Runtime (``backend``: eval.py, prediction, features, proposals);
* :mod:`src.infer.bins` is the offline chain's folder format: raw float32 batches in the exported
  model's input layout with a ``meta.json`` describing every row, the inference programs' result
  files, and the loop every runner shares;
* ``preprocess.py`` / ``postprocess.py`` (:mod:`src.engine.offline`) hand the work to the model's
  task (``src/tasks/<task>/offline.py``), which writes the batches and turns ``result_Files`` into
  the metrics eval.py reports;
* :mod:`src.infer.mindir_runner` and :mod:`src.infer.onnx_runner` run a MINDIR or an ONNX file over
  a folder of batches with the same inputs and outputs as the C++ program ``ascend_310_infer/out/main``
  (for hosts without libmindspore.so, and for ONNX Runtime on a CPU).
"""
