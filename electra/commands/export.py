r"""Export a fine-tuned SQuAD model as a SavedModel (and OpenVINO IR / ONNX) for serving.

    electra-export --init out/squad --output_dir out/export
    electra-export --init out/squad/checkpoints/ckpt-300 \
        --output_dir out/export --formats saved_model,openvino,onnx
    electra-export --init hf:hf_squad_model/ --output_dir out/export

``--init``: anything ``electra.interop.store.resolve_source`` accepts: a model directory (``metadata.json``), a
``run_squad.py`` output directory (the model directory ``model/`` in it, else its latest ``checkpoints/ckpt-N`` with
the run's model config and vocabulary), a
``checkpoints/`` directory or ``ckpt-N`` prefix, ``hf:<dir>`` (a Hugging Face ``ElectraForQuestionAnswering``
safetensors directory) or ``google:<ckpt>``. The older ``--init_checkpoint=X`` is ``--init=X`` and
``--hf_checkpoint=X`` is ``--init=hf:X``. The vocabulary and model config are those the source names unless given.
A source holding the ``answer_class`` head gives a model with the SQuAD v2 answerability head (the export serves
the span logits either way). A source holding the joint head (``start_logits`` / ``end_logits`` scopes) gives the
joint model, whose beam of ``--beam_size`` starts and ends per start is the export's second signature ``beam``
(a plain head with the answerability classifier gets the second signature ``answerability``); the head is recorded
in the export's settings, so ``predict.py`` decodes it the right way.

Written under ``--output_dir``: ``saved_model/`` (signature ``serving_default``: ``input_ids``, ``input_mask``,
``segment_ids`` int32 ``[batch, max_seq_length]`` → ``start_logits``, ``end_logits``), ``openvino/model.xml``
(+ ``.bin``) and ``model.onnx``, whichever ``--formats`` names; in the IR and ONNX files output 0 is
``start_logits`` and output 1 ``end_logits``. Bad input exits with status 2 and a message naming the flag or file.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FORMATS = ("saved_model", "openvino", "onnx")
BEAM_SIZE = 5   # NVIDIA's default; the squad recipes' decoding.beam_size


class UsageError(ValueError):
    """Bad input: reported with exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    from electra.configs import parse_bool
    from electra.export import DEFAULT_SETTINGS

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--init", help="model directory, run_squad output dir, checkpoints dir or ckpt-N prefix, "
                                       "hf:<dir> or google:<ckpt>")
    source.add_argument("--init_checkpoint", help="same as --init (run_squad output dir, checkpoint prefix or dir)")
    source.add_argument("--hf_checkpoint", help="Hugging Face safetensors directory (same as --init=hf:<dir>)")
    p.add_argument("--vocab_file", help="default: the source's vocabulary (in the model / run directory, beside "
                                        "the checkpoint, or in the Hugging Face directory)")
    p.add_argument("--model_config_file", help="default: the source's (model_config.json of the model / run "
                                               "directory, config.json of a Hugging Face directory)")
    p.add_argument("--output_dir", required=True)
    p.add_argument("--formats", default="saved_model", help=f"comma-separated subset of {','.join(FORMATS)}")
    p.add_argument("--do_lower_case", type=parse_bool, nargs="?", const=True, default=None,
                   help="default: the source's setting, else the tokenizer's tokenizer_config.json, else true for "
                        "WordPiece")
    for name in ("max_seq_length", "doc_stride", "max_query_length", "n_best_size", "max_answer_length"):
        p.add_argument(f"--{name}", type=int, default=DEFAULT_SETTINGS[name], help=f"default: {DEFAULT_SETTINGS[name]}")
    p.add_argument("--version_2_with_negative", type=parse_bool, nargs="?", const=True, default=None,
                   help="default: true when the checkpoint has the answer_class head")
    p.add_argument("--null_score_diff_threshold", type=float, default=DEFAULT_SETTINGS["null_score_diff_threshold"])
    p.add_argument("--beam_size", type=int, default=BEAM_SIZE,
                   help=f"joint head: top starts, and top ends per start, in the beam signature (default: "
                        f"{BEAM_SIZE})")
    return p


def _formats(text: str) -> list[str]:
    chosen = [f.strip() for f in text.split(",") if f.strip()]
    bad = [f for f in chosen if f not in FORMATS]
    if bad or not chosen:
        raise UsageError(f"--formats={text!r}: choose a comma-separated subset of {','.join(FORMATS)}")
    return list(dict.fromkeys(chosen))


def _source(args):
    """``(flag=value text, ModelSource)`` of whichever source flag was given."""
    from electra.interop.weights import WeightLoadError
    from electra.interop.store import is_model_directory, resolve_source

    if args.hf_checkpoint:
        named, spec = f"--hf_checkpoint={args.hf_checkpoint}", f"hf:{args.hf_checkpoint}"
    elif args.init_checkpoint:
        named, spec = f"--init_checkpoint={args.init_checkpoint}", args.init_checkpoint
    else:
        named, spec = f"--init={args.init}", args.init
    final = os.path.join(spec, "model")
    if os.path.isdir(spec) and not is_model_directory(spec) and is_model_directory(final):
        spec = final    # a run_squad output directory: the model it wrote at the end
    if args.model_config_file and not os.path.isfile(args.model_config_file):
        raise UsageError(f"--model_config_file={args.model_config_file} does not exist")
    try:
        return named, resolve_source(spec, model_config_file=args.model_config_file)
    except (WeightLoadError, OSError, ValueError) as e:
        raise UsageError(f"{named}: {e}") from e


def export(args) -> dict:
    formats = _formats(args.formats)
    named, source = _source(args)
    vocab = args.vocab_file or source.vocab_file
    if not vocab:
        raise UsageError(f"no vocabulary found for {named} (a {source.kind} source: none named by it or lying in "
                         f"its directory); pass --vocab_file")
    if not os.path.isfile(vocab):
        raise UsageError(f"--vocab_file={vocab} does not exist")
    config = source.model_config
    if config is None:
        raise UsageError(f"no model_config.json found for {named} (it is not in a run directory with "
                         f"model_config.json); pass --model_config_file")
    joint = "start_logits" in source.heads and "end_logits" in source.heads
    if "qa_outputs" not in source.heads and not joint:
        raise UsageError(f"{named} holds no qa_outputs head (nor the joint head's start_logits/end_logits): not a "
                         f"SQuAD fine-tuned checkpoint (exporting it would serve random span logits)")
    answerability = "answer_class" in source.heads
    if joint and not 1 <= args.beam_size <= args.max_seq_length:
        raise UsageError(f"--beam_size={args.beam_size}: must be in [1, --max_seq_length={args.max_seq_length}]")
    if joint and args.version_2_with_negative and not answerability:
        raise UsageError(f"--version_2_with_negative: {named} has the joint head without its answer class "
                         f"(answer_class), which the v2 no-answer decision needs")

    from electra.export import export_onnx, export_openvino, export_saved_model
    from electra.interop.weights import WeightLoadError
    from electra.modeling import ElectraForQuestionAnswering
    from electra.tokenization import TokenizerError, load_tokenizer

    try:
        tokenizer = load_tokenizer(vocab, lower_case=source.do_lower_case if args.do_lower_case is None
                                   else args.do_lower_case)
    except TokenizerError as e:
        raise UsageError(f"--vocab_file={vocab}: {e}") from e
    config_file = args.model_config_file or source.metadata.get("model_config_file")
    try:
        config.validate_vocab(tokenizer.vocab_size)
    except ValueError as e:
        raise UsageError(f"--model_config_file={config_file or '(inferred from ' + source.path + ')'}: {e}") from e
    if not 1 <= args.max_seq_length <= config.max_position_embeddings:
        raise UsageError(f"--max_seq_length={args.max_seq_length}: must be in [1, {config.max_position_embeddings}] "
                         f"(the model's max_position_embeddings)")
    model = ElectraForQuestionAnswering(config, answerability=answerability, joint=joint, beam_size=args.beam_size)
    try:
        source.load_into(model)
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
    result = {"source": args.hf_checkpoint or args.init_checkpoint or args.init, "source_kind": source.kind,
              "vocab_file": vocab, "model_config_file": config_file, "answerability_head": answerability,
              "joint_head": joint, "beam_size": args.beam_size if joint else None, "settings": settings}
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
