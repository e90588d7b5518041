"""The one loop: host synchronizations per log interval, the run record and its resume check, the command line that
reaches every config field, recipe files, and exact resume of a fine-tuning run killed mid-epoch."""
import json
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest

from electra import cli
from electra.configs import ConfigError, FinetuneConfig, PretrainConfig, SquadConfig
from tests.training.conftest import ROOT, pretrain_in_process, read_log, tiny_model_config

RECIPES = os.path.join(ROOT, "recipes")


@pytest.mark.slow
def test_one_host_read_per_log_interval(pretraining_data, tmp_path):
    model_config = tiny_model_config(tmp_path / "m.json")
    summary = pretrain_in_process(pretraining_data, tmp_path / "a", model_config)
    assert summary["step"] == 12
    assert summary["host_syncs"] == 3           # 12 steps, a log every 4 (the final save shares the last read)
    records = [r for r in read_log(str(tmp_path / "a")) if r["type"] == "train"]
    assert [r["step"] for r in records] == [4, 8, 12]
    # checkpoints between log steps read the window without closing it: reads at 3, 4, 6, 8, 9, 12, same log
    summary = pretrain_in_process(pretraining_data, tmp_path / "b", model_config, checkpoint_every=3)
    assert summary["host_syncs"] == 6
    again = [r for r in read_log(str(tmp_path / "b")) if r["type"] == "train"]
    assert [(r["step"], r["loss"], r["grad_norm"]) for r in again] == \
        [(r["step"], r["loss"], r["grad_norm"]) for r in records]


@pytest.mark.slow
def test_run_record_and_resume_check(pretraining_data, tmp_path):
    output, model_config = tmp_path / "run", tiny_model_config(tmp_path / "m.json")
    pretrain_in_process(pretraining_data, output, model_config, steps_this_run=4)
    record = json.loads((output / "run_info.json").read_text())
    assert record["task"] == "pretraining" and record["config"]["optimizer"]["learning_rate"] == 5e-3
    assert record["config"]["trainer"]["steps_this_run"] == 4
    with pytest.raises(ConfigError, match=r"--data.mask_prob was 0.15, now 0.2"):
        pretrain_in_process(pretraining_data, output, model_config, mask_prob=0.2)
    summary = pretrain_in_process(pretraining_data, output, model_config, learning_rate=1e-3, log_every=2)
    assert summary["step"] == 12
    events = [r for r in read_log(str(output)) if r.get("event") == "config_changed"]
    assert len(events) == 1 and "--optimizer.learning_rate: 0.005 → 0.001" in events[0]["message"]


@pytest.mark.slow
def test_eval_at_start_logs_the_initial_model_once_and_leaves_training_unchanged(pretraining_data, tmp_path):
    """--trainer.eval_at_start: an ordinary eval record at step 0 (the untrained model: ROC-AUC near chance); the run
    is interrupted after 4 steps and resumed, and the resumed run does not evaluate its start again; training (every
    later evaluation, the final weights) is exactly that of an uninterrupted run without it."""
    model_config = tiny_model_config(tmp_path / "m.json")
    common = dict(validation_files=pretraining_data["valid"], eval_every=6, eval_steps=2)
    plain = pretrain_in_process(pretraining_data, tmp_path / "plain", model_config, **common)
    pretrain_in_process(pretraining_data, tmp_path / "split", model_config, eval_at_start=True, steps_this_run=4,
                        **common)
    resumed = pretrain_in_process(pretraining_data, tmp_path / "split", model_config, eval_at_start=True, **common)
    evals = [r for r in read_log(str(tmp_path / "split")) if r["type"] == "eval"]
    assert [r["step"] for r in evals] == [0, 4, 6, 12]                 # 4: the first invocation's end
    start = evals[0]
    assert 0.3 < start["validation_disc_auc"] < 0.7 and 0.0 <= start["validation_gen_accuracy"] < 0.1
    assert 0.5 < start["validation_disc_baseline_accuracy"] < 1.0
    later = [r for r in read_log(str(tmp_path / "plain")) if r["type"] == "eval"]
    assert [(r["step"], r["validation_loss"], r["validation_disc_auc"]) for r in later] == \
        [(r["step"], r["validation_loss"], r["validation_disc_auc"]) for r in evals[2:]]
    assert resumed["weights_sha256"] == plain["weights_sha256"]


def test_a_fresh_start_replaces_the_start_evaluation_of_an_attempt_that_left_no_checkpoint(tmp_path):
    from electra.training.logs import RunLog, read_log as read
    path = tmp_path / "train_log.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in (
        {"type": "event", "step": 0, "event": "config_changed", "message": "x"},
        {"type": "eval", "step": 0, "metrics": {"loss": 1.0}},
        {"type": "train", "step": 4, "loss": 2.0, "metrics": {}})))
    RunLog(str(tmp_path), True, 12, 0, "pretraining", fresh_start=True).close()
    assert [r["type"] for r in read(str(path))] == ["event"]
    path.write_text(json.dumps({"type": "eval", "step": 0, "metrics": {"loss": 1.0}}) + "\n")
    RunLog(str(tmp_path), True, 12, 4, "pretraining").close()                 # a resume keeps it
    assert [r["type"] for r in read(str(path))] == ["eval"]


def _distinct(flag):
    """A valid value different from the default of ``flag``."""
    if flag.choices:
        return next(c for c in flag.choices if c != flag.default)
    if flag.kind is bool:
        return not flag.default
    if flag.kind is int:
        return (flag.default or 0) + 3
    if flag.kind is float:
        value = round((flag.default or 0.0) + 0.125, 6)
        return value if value in flag.valid else round(flag.default / 2, 6)
    return "/tmp/electra-flag-test"


@pytest.mark.parametrize("cls", [PretrainConfig, SquadConfig])
def test_every_config_field_is_a_flag_with_help(cls):
    flags = list(cli.flags_of(cls))
    assert len(flags) > 30
    for flag in flags:
        assert flag.help, f"{flag.name} has no help text"
        value = _distinct(flag)
        namespace = vars(cli.build_parser(cls, "").parse_args([f"--{flag.name}={value}"]))
        config = cli.override(cli._defaults(cls), namespace, "command line")
        node = config
        for part in flag.name.split("."):
            node = getattr(node, part)
        assert node == ((value,) if flag.many else value), flag.name


def test_aliases_dotted_names_and_booleans():
    config = cli.parse(PretrainConfig, ["--output_dir=x", "--learning_rate=1e-3", "--trainer.log_every=7",
                                        "--noxla", "--runtime.horovod=false", "--data.skip_corrupt_records"], "")
    assert config.optimizer.learning_rate == 1e-3 and config.trainer.log_every == 7
    assert config.trainer.xla is False and config.runtime.horovod is False and config.data.skip_corrupt_records
    with pytest.raises(ConfigError, match="unrecognized arguments: --learning_rte=1"):
        cli.parse(PretrainConfig, ["--output_dir=x", "--learning_rte=1"], "")
    with pytest.raises(ConfigError, match="optimizer.learning_rate expects float"):
        cli.override(cli._defaults(PretrainConfig), {"optimizer": {"learning_rate": "fast"}}, "recipe.json")
    with pytest.raises(ConfigError, match=r"recipe.json: unknown setting 'optimizer.learnin_rate' \(did you mean"):
        cli.override(cli._defaults(PretrainConfig), {"optimizer.learnin_rate": 1}, "recipe.json")


ALL_RECIPES = sorted(os.path.relpath(os.path.join(folder, name), RECIPES)
                     for folder, _, names in os.walk(RECIPES) for name in names if name.endswith(".json"))
GOOGLE_FINETUNING = {"small": (3e-4, 0.8), "base": (1e-4, 0.8), "large": (5e-5, 0.9)}   # LR, layer-wise decay


@pytest.mark.parametrize("name", ALL_RECIPES)
def test_recipes_load_and_flags_override_them(name, tmp_path):
    squad, finetune = name.startswith("squad"), name.startswith(("glue", "tagging"))
    cls = SquadConfig if squad else FinetuneConfig if finetune else PretrainConfig
    extra = ["--mode=prediction", f"--predict_file={os.path.join(ROOT, 'tests/fixtures/squad/tiny_squad.json')}"] \
        if squad else []
    if finetune:
        fixture = os.path.join(ROOT, "tests/fixtures/tagging/wnut17_train.conll")
        extra = [f"--data.train_file={fixture}", f"--data.eval_file={fixture}"]
    config = cli.parse(cls, [f"--config={os.path.join(RECIPES, name)}", "--output_dir=x", *extra], "")
    overridden = cli.parse(cls, [f"--config={os.path.join(RECIPES, name)}", "--output_dir=x", "--seed=5", *extra], "")
    assert overridden.trainer.seed == 5 and overridden.optimizer == config.optimizer
    if name == "pretrain_phase1.json":
        assert (config.data.max_seq_length, config.optimizer.learning_rate, config.trainer.total_steps) == \
            (128, 6e-3, 10000)
        assert config.trainer.global_batch_size == 67584 and config.trainer.gradient_accumulation_steps == 0
    if name.startswith("glue"):       # google-research/electra's configure_finetuning.py, per size and task
        task, size = os.path.basename(name)[:-len(".json")].rsplit("_", 1)
        o = config.optimizer
        assert config.task == f"glue/{task}" and config.model.size == size
        assert (o.name, o.learning_rate, o.layerwise_lr_decay) == ("layerwise_adamw", *GOOGLE_FINETUNING[size])
        assert config.trainer.epochs == (10.0 if task in ("rte", "sts-b") else 3.0)
        assert (config.data.max_seq_length, config.trainer.global_batch_size, o.warmup_proportion,
                o.weight_decay, o.epsilon) == (128, 32, 0.1, 0.01, 1e-6)


def test_global_batch_derives_the_accumulation(pretraining_data, tmp_path):
    from electra.training.experiment import accumulation_for
    trainer = cli.build(PretrainConfig, output_dir="x", global_batch_size=67584, gradient_accumulation_steps=0).trainer
    assert [accumulation_for(trainer, 176, n) for n in (1, 2, 8)] == [384, 192, 48]
    with pytest.raises(ValueError, match="not a multiple of workers \\(5\\)"):
        accumulation_for(trainer, 176, 5)


@pytest.mark.slow
def test_fine_tuning_killed_mid_epoch_resumes_exactly(tmp_path):
    """SQuAD: SIGKILL inside step 7 (mid-epoch), resume; every logged value and the final weights equal an
    uninterrupted run to 1e-6."""
    from tests.squad.squad_helpers import squad_texts, tiny_squad_flags, write_word_vocab
    vocab = write_word_vocab(tmp_path / "vocab", squad_texts())

    def flags(output):
        return tiny_squad_flags(output, vocab)

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT, "CUDA_VISIBLE_DEVICES": ""}
    script = os.path.join(ROOT, "run_scripts", "run_squad.py")
    full = subprocess.run([sys.executable, script, *flags(tmp_path / "full")], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=600)
    assert full.returncode == 0, full.stderr[-3000:]
    killed = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "training", "kill_at_step.py"), "7",
                             "--squad", *flags(tmp_path / "resumed")], capture_output=True, text=True, cwd=ROOT,
                            env=env, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    resumed = subprocess.run([sys.executable, script, *flags(tmp_path / "resumed")], capture_output=True, text=True,
                             cwd=ROOT, env=env, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a = {r["step"]: r for r in read_log(str(tmp_path / "full")) if r["type"] == "train"}
    b = {r["step"]: r for r in read_log(str(tmp_path / "resumed")) if r["type"] == "train"}
    assert sorted(a) == sorted(b) == list(range(1, 13))
    for step in a:
        for key in ("loss", "grad_norm", "learning_rate", "span_loss", "answerable_loss"):
            np.testing.assert_allclose(b[step][key], a[step][key], atol=1e-6, rtol=0, err_msg=f"{step} {key}")
    resumed_events = [r for r in read_log(str(tmp_path / "resumed")) if r.get("event")]
    assert not resumed_events                     # the input position was restored, not reset
    summary_a = json.loads((tmp_path / "full" / "summary.json").read_text())
    summary_b = json.loads((tmp_path / "resumed" / "summary.json").read_text())
    assert summary_a["weights_sha256"] == summary_b["weights_sha256"]


@pytest.mark.slow
def test_bf16_on_a_cpu_without_native_bf16_logs_the_measured_slowdown(pretraining_data, tmp_path, monkeypatch):
    from electra.training import precision
    plain_cpu = {"model": "Plain CPU", "logical_cpus": 2, "isa": {"avx2": True, "avx512_bf16": False,
                                                                  "amx_bf16": False}, "amx": False}
    monkeypatch.setattr(precision, "cpu_info", lambda: plain_cpu)
    model_config = tiny_model_config(tmp_path / "m.json")
    pretrain_in_process(pretraining_data, tmp_path / "bf16", model_config, precision="bf16", total_steps=2,
                        log_every=1, checkpoint_every=2)
    (event,) = [r for r in read_log(str(tmp_path / "bf16")) if r.get("event") == "precision_warning"]
    ratio = float(re.search(r"took (\d+\.\d+)x as long in bf16", event["message"]).group(1))
    assert ratio > 0 and "Plain CPU" in event["message"]
    pretrain_in_process(pretraining_data, tmp_path / "fp32", model_config, total_steps=2, log_every=1,
                        checkpoint_every=2)
    assert not [r for r in read_log(str(tmp_path / "fp32")) if r.get("event") == "precision_warning"]
