"""Batch-1 serving latency of the exported SQuAD model: TensorFlow SavedModel vs OpenVINO (CPU) vs ONNX Runtime.

    .venv/bin/python benchmarks/serving.py --output serving.json
    .venv/bin/python benchmarks/serving.py --model_size base --runs 20 --output serving_base.json

One model (random weights; latency does not depend on their values) is exported once (``electra.export``) and
the three runtimes are timed side by side in one process: after ``--warmup`` calls each, ``--runs`` rounds
each call every runtime once, in an order that rotates every round, so drift in machine load hits all three
alike. A call is one batch-1 ``[1, max_seq_length]`` request including the copy of both outputs to NumPy.
Reported per runtime: median and p90 latency (ms), the ratio of each to TensorFlow's (below 1: faster) and the
largest |difference| of its logits from TensorFlow's, with the machine record and the versions.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import electra  # noqa: E402,F401  (before TensorFlow loads: turns its oneDNN CPU kernels on)
from benchmarks.common import machine_record, versions, write_json  # noqa: E402


def _stats(times: list[float]) -> dict:
    import numpy as np

    ms = np.asarray(times) * 1e3
    return {"median_ms": round(float(np.median(ms)), 3), "p90_ms": round(float(np.percentile(ms, 90)), 3),
            "mean_ms": round(float(ms.mean()), 3), "min_ms": round(float(ms.min()), 3), "runs": len(times)}


def build_runtimes(work_dir: str, model_size: str, max_seq_length: int, seed: int, openvino_precision: str):
    """Export one model of preset ``model_size`` (random weights from ``seed``) and return
    ``({runtime: callable(inputs) -> (start, end)}, settings)``."""
    import keras

    from electra.configs import preset
    from electra.modeling import ElectraForQuestionAnswering

    keras.utils.set_random_seed(seed)
    runtimes, settings = serving_runtimes(ElectraForQuestionAnswering(preset(model_size, max_position_embeddings=512)),
                                          work_dir, max_seq_length, openvino_precision)
    return runtimes, {"model_size": model_size, **settings}


def serving_runtimes(model, work_dir: str, max_seq_length: int, openvino_precision: str = "f32"):
    """Export ``model`` into ``work_dir`` (SavedModel, OpenVINO IR, ONNX) and return
    ``({runtime: callable(inputs) -> (start, end)}, settings)``; the runtimes hold what they need in memory, so
    ``work_dir`` may be removed afterwards."""
    import numpy as np
    import tensorflow as tf

    from electra.export import export_onnx, export_openvino, export_saved_model

    config = model.config
    vocab = os.path.join(work_dir, "vocab.txt")
    with open(vocab, "w", encoding="utf-8") as f:
        f.write("".join(f"[unused{i}]\n" for i in range(config.vocab_size)))
    saved_model = export_saved_model(model, os.path.join(work_dir, "saved_model"), vocab,
                                     max_seq_length=max_seq_length, do_lower_case=True)
    ir = export_openvino(saved_model, os.path.join(work_dir, "openvino"))
    onnx_path = export_onnx(saved_model, os.path.join(work_dir, "model.onnx"))
    parameters = int(model.count_params())

    loaded = tf.saved_model.load(saved_model)
    serve = loaded.signatures["serving_default"]

    def run_tf(inputs):
        out = serve(**{k: tf.constant(v) for k, v in inputs.items()})
        return out["start_logits"].numpy(), out["end_logits"].numpy()

    import openvino as ov
    core = ov.Core()
    properties = {"PERFORMANCE_HINT": "LATENCY"}
    if openvino_precision != "default":
        properties["INFERENCE_PRECISION_HINT"] = openvino_precision
    compiled = core.compile_model(core.read_model(ir), "CPU", properties)
    request = compiled.create_infer_request()

    def run_openvino(inputs):
        result = request.infer(inputs)
        return np.array(result[0]), np.array(result[1])

    import onnxruntime as ort
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])

    def run_onnxruntime(inputs):
        start, end = session.run(None, inputs)
        return start, end

    run_tf.keep_alive = loaded
    runtimes = {"tensorflow": run_tf, "openvino": run_openvino, "onnxruntime": run_onnxruntime}
    settings = {"max_seq_length": max_seq_length, "batch": 1,
                "layers": config.num_hidden_layers, "hidden_size": config.hidden_size,
                "parameters": parameters,
                "openvino_hint": "LATENCY",
                "openvino_precision": compiled.get_property("INFERENCE_PRECISION_HINT").to_string(),
                "onnxruntime_providers": session.get_providers()}
    return runtimes, settings


def benchmark(runtimes: dict, inputs: dict, warmup: int, runs: int) -> dict:
    import numpy as np

    reference = runtimes["tensorflow"](inputs)
    diffs = {}
    for name, fn in runtimes.items():
        for _ in range(warmup):
            out = fn(inputs)
        diffs[name] = float(max(np.abs(out[0] - reference[0]).max(), np.abs(out[1] - reference[1]).max()))
    names = list(runtimes)
    times = {name: [] for name in names}
    for i in range(runs):
        for name in names[i % len(names):] + names[:i % len(names)]:
            t0 = time.perf_counter()
            runtimes[name](inputs)
            times[name].append(time.perf_counter() - t0)
    results = {name: {**_stats(times[name]), "max_abs_diff_vs_tensorflow": diffs[name]} for name in names}
    tf_stats = results["tensorflow"]
    for name in names:
        results[name]["median_ratio_to_tensorflow"] = round(results[name]["median_ms"] / tf_stats["median_ms"], 3)
        results[name]["p90_ratio_to_tensorflow"] = round(results[name]["p90_ms"] / tf_stats["p90_ms"], 3)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_size", default="small", choices=("tiny", "small", "base", "large"))
    parser.add_argument("--max_seq_length", type=int, default=384)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--openvino_precision", default="f32", choices=("f32", "bf16", "default"),
                        help="OpenVINO CPU inference precision; 'default' lets it pick (bf16 on CPUs with AMX or "
                             "AVX512_BF16, which changes the logits by more than 1e-4)")
    parser.add_argument("--work_dir", help="where the exports are written (default: a temporary directory)")
    parser.add_argument("--output", help="also write the JSON here")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 1 or not 8 <= args.max_seq_length <= 512:
        parser.error("need --runs >= 1, --warmup >= 1 and 8 <= --max_seq_length <= 512")
    import numpy as np

    machine = machine_record(fresh_pages=False)
    with tempfile.TemporaryDirectory(prefix="electra-serving-bench-") as scratch:
        work_dir = args.work_dir or scratch
        os.makedirs(work_dir, exist_ok=True)
        runtimes, settings = build_runtimes(work_dir, args.model_size, args.max_seq_length, args.seed,
                                            args.openvino_precision)
        rng = np.random.default_rng(args.seed)
        length, used = args.max_seq_length, args.max_seq_length * 3 // 4
        ids = np.zeros((1, length), np.int32)
        ids[0, :used] = rng.integers(5, 1000, used)
        mask = (ids > 0).astype(np.int32)
        segments = np.zeros_like(ids)
        segments[0, 40:used] = 1
        inputs = {"input_ids": ids, "input_mask": mask, "segment_ids": segments}
        results = benchmark(runtimes, inputs, args.warmup, args.runs)
    machine["load_average_at_end"] = os.getloadavg()
    write_json({"machine": machine, "versions": versions("openvino", "onnxruntime", "onnx", "tf2onnx"),
                "settings": {**settings, "runs": args.runs, "warmup": args.warmup}, "results": results}, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
