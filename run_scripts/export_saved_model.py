r"""Export a fine-tuned SQuAD checkpoint as a SavedModel (and OpenVINO IR / ONNX) for serving.

    python run_scripts/export_saved_model.py --init_checkpoint out/squad --output_dir out/export
    python run_scripts/export_saved_model.py --init_checkpoint out/squad/checkpoints/ckpt-300 \
        --output_dir out/export --formats saved_model,openvino,onnx
    python run_scripts/export_saved_model.py --hf_checkpoint hf_squad_model/ --output_dir out/export

``--init_checkpoint``: a ``run_squad.py`` output directory (``checkpoints/ckpt-N``, ``model_config.json`` and the
vocabulary inside it), a checkpoint prefix, or a directory holding a TF checkpoint (ours or Google's TF1 one).
``--hf_checkpoint``: a Hugging Face ``ElectraForQuestionAnswering`` safetensors directory. The vocabulary and
``model_config.json`` are looked up beside the checkpoint (and in its run directory) unless given. A checkpoint
holding the ``answer_class`` head gives a model with the SQuAD v2 answerability head (the export serves the span
logits either way).

Written under ``--output_dir``: ``saved_model/`` (signature ``serving_default``: ``input_ids``, ``input_mask``,
``segment_ids`` int32 ``[batch, max_seq_length]`` → ``start_logits``, ``end_logits``), ``openvino/model.xml``
(+ ``.bin``) and ``model.onnx``, whichever ``--formats`` names; in the IR and ONNX files output 0 is
``start_logits`` and output 1 ``end_logits``. Bad input exits with status 2 and a message naming the flag or file.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FORMATS = ("saved_model", "openvino", "onnx")
ANSWER_HEAD = re.compile(r"(^|/|\.S)answer_class(/|\.S|\.)")
SPAN_HEAD = re.compile(r"(^|/|\.S)qa_outputs(/|\.S|\.)")


class UsageError(ValueError):
    """Bad input: reported with exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    from electra.configs import parse_bool
    from electra.export import DEFAULT_SETTINGS

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--init_checkpoint", help="run_squad output dir, checkpoint prefix or checkpoint dir")
    source.add_argument("--hf_checkpoint", help="Hugging Face safetensors directory")
    p.add_argument("--vocab_file", help="default: vocab.txt / spm.model beside the checkpoint or in its run dir")
    p.add_argument("--model_config_file", help="default: model_config.json beside the checkpoint or in its run "
                                               "dir (config.json for --hf_checkpoint)")
    p.add_argument("--output_dir", required=True)
    p.add_argument("--formats", default="saved_model", help=f"comma-separated subset of {','.join(FORMATS)}")
    p.add_argument("--do_lower_case", type=parse_bool, nargs="?", const=True, default=None,
                   help="default: the tokenizer's tokenizer_config.json, else true for WordPiece")
    for name in ("max_seq_length", "doc_stride", "max_query_length", "n_best_size", "max_answer_length"):
        p.add_argument(f"--{name}", type=int, default=DEFAULT_SETTINGS[name], help=f"default: {DEFAULT_SETTINGS[name]}")
    p.add_argument("--version_2_with_negative", type=parse_bool, nargs="?", const=True, default=None,
                   help="default: true when the checkpoint has the answer_class head")
    p.add_argument("--null_score_diff_threshold", type=float, default=DEFAULT_SETTINGS["null_score_diff_threshold"])
    return p


def _formats(text: str) -> list[str]:
    chosen = [f.strip() for f in text.split(",") if f.strip()]
    bad = [f for f in chosen if f not in FORMATS]
    if bad or not chosen:
        raise UsageError(f"--formats={text!r}: choose a comma-separated subset of {','.join(FORMATS)}")
    return list(dict.fromkeys(chosen))


def _search_dirs(args) -> list[str]:
    """Where the vocabulary and config may lie: the checkpoint's directory and its run directory."""
    if args.hf_checkpoint:
        return [args.hf_checkpoint]
    path = args.init_checkpoint
    directory = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    dirs = [directory, os.path.dirname(os.path.abspath(directory))]
    if os.path.basename(os.path.normpath(directory)) != "checkpoints":
        dirs = dirs[:1]
    return dirs


def _find(dirs: list[str], names: list[str]) -> str | None:
    for d in dirs:
        for name in names:
            if os.path.isfile(os.path.join(d, name)):
                return os.path.join(d, name)
    return None


def _resolve_inputs(args) -> tuple[str, str | None]:
    """``(vocabulary, model config)``; the config is None for a Hugging Face directory with its config.json."""
    from electra.tokenization import SPM_NAME, VOCAB_NAME

    source_flag = "--hf_checkpoint" if args.hf_checkpoint else "--init_checkpoint"
    source = args.hf_checkpoint or args.init_checkpoint
    if args.hf_checkpoint and not os.path.isdir(source):
        raise UsageError(f"--hf_checkpoint={source}: not a directory")
    if args.init_checkpoint and not (os.path.isdir(source) or os.path.exists(source + ".index")):
        raise UsageError(f"--init_checkpoint={source}: neither a directory nor a checkpoint prefix "
                         f"({source}.index does not exist)")
    dirs = _search_dirs(args)
    vocab = args.vocab_file or _find(dirs, [VOCAB_NAME, SPM_NAME])
    if not vocab:
        raise UsageError(f"no vocabulary ({VOCAB_NAME} or {SPM_NAME}) found beside {source_flag}={source} "
                         f"(looked in {', '.join(dirs)}); pass --vocab_file")
    if not os.path.isfile(vocab):
        raise UsageError(f"--vocab_file={vocab} does not exist")
    config = args.model_config_file or _find(dirs, ["model_config.json"])
    if not config and not (args.hf_checkpoint and os.path.isfile(os.path.join(source, "config.json"))):
        raise UsageError(f"no model_config.json found beside {source_flag}={source} (looked in "
                         f"{', '.join(dirs)}); pass --model_config_file")
    if config and not os.path.isfile(config):
        raise UsageError(f"--model_config_file={config} does not exist")
    return vocab, config


def _weight_names(args) -> list[str]:
    """Tensor names in the checkpoint, to tell which heads it holds."""
    import tensorflow as tf

    from electra.interop.weights import WeightLoadError

    if args.hf_checkpoint:
        from electra.interop.hf import read_safetensors
        try:
            return list(read_safetensors(args.hf_checkpoint))
        except (WeightLoadError, OSError, ValueError) as e:
            raise UsageError(f"--hf_checkpoint={args.hf_checkpoint}: {e}") from e
    from electra.interop.google import checkpoint_prefix
    from electra.training.checkpointing import resolve_checkpoint
    try:
        try:
            prefix = resolve_checkpoint(args.init_checkpoint)
        except WeightLoadError:
            prefix = checkpoint_prefix(args.init_checkpoint)
        return [name for name, _ in tf.train.list_variables(prefix)]
    except (WeightLoadError, tf.errors.OpError, ValueError) as e:
        raise UsageError(f"--init_checkpoint={args.init_checkpoint}: {e}") from e


def export(args) -> dict:
    formats = _formats(args.formats)
    vocab, config_file = _resolve_inputs(args)
    names = _weight_names(args)
    if not any(SPAN_HEAD.search(n) for n in names):
        source = f"--hf_checkpoint={args.hf_checkpoint}" if args.hf_checkpoint else \
            f"--init_checkpoint={args.init_checkpoint}"
        raise UsageError(f"{source} holds no qa_outputs head: not a SQuAD fine-tuned checkpoint (exporting it "
                         f"would serve random span logits)")
    answerability = any(ANSWER_HEAD.search(n) for n in names)

    from electra.export import export_onnx, export_openvino, export_saved_model
    from electra.interop.weights import WeightLoadError
    from electra.modeling import ElectraForQuestionAnswering
    from electra.squad.runner import SquadRunConfig, build_model_config, load_initial_weights
    from electra.tokenization import TokenizerError, load_tokenizer

    try:
        tokenizer = load_tokenizer(vocab, lower_case=args.do_lower_case)
    except TokenizerError as e:
        raise UsageError(f"--vocab_file={vocab}: {e}") from e
    cfg = SquadRunConfig(output_dir=args.output_dir, vocab_file=vocab, mode="prediction",
                         init_checkpoint=args.init_checkpoint, hf_checkpoint=args.hf_checkpoint,
                         model_config_file=config_file, do_lower_case=tokenizer.lower_case,
                         max_seq_length=args.max_seq_length, answerability_head=answerability)
    try:
        config = build_model_config(cfg, tokenizer.vocab_size)
    except ValueError as e:
        raise UsageError(f"--model_config_file={config_file or os.path.join(args.hf_checkpoint, 'config.json')}: "
                         f"{e}") from e
    if not 1 <= args.max_seq_length <= config.max_position_embeddings:
        raise UsageError(f"--max_seq_length={args.max_seq_length}: must be in [1, {config.max_position_embeddings}] "
                         f"(the model's max_position_embeddings)")
    model = ElectraForQuestionAnswering(config, answerability=answerability)
    try:
        load_initial_weights(model, cfg)
    except (WeightLoadError, OSError) as e:
        raise UsageError(str(e)) from e

    settings = dict(do_lower_case=tokenizer.lower_case, max_seq_length=args.max_seq_length,
                    doc_stride=args.doc_stride, max_query_length=args.max_query_length, n_best_size=args.n_best_size,
                    max_answer_length=args.max_answer_length,
                    version_2_with_negative=answerability if args.version_2_with_negative is None
                    else args.version_2_with_negative,
                    null_score_diff_threshold=args.null_score_diff_threshold)
    out = os.path.abspath(args.output_dir)
    os.makedirs(out, exist_ok=True)
    result = {"source": args.hf_checkpoint or args.init_checkpoint, "vocab_file": vocab,
              "model_config_file": config_file, "answerability_head": answerability, "settings": settings}
    scratch = None if "saved_model" in formats else tempfile.mkdtemp(prefix=".saved_model-", dir=out)
    try:
        saved_model = export_saved_model(model, os.path.join(scratch or out, "saved_model"), vocab, **settings)
        if "saved_model" in formats:
            result["saved_model"] = saved_model
        if "openvino" in formats:
            result["openvino"] = export_openvino(saved_model, os.path.join(out, "openvino"))
        if "onnx" in formats:
            result["onnx"] = export_onnx(saved_model, os.path.join(out, "model.onnx"))
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    return result


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = export(args)
    except UsageError as e:
        print(f"export_saved_model: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
