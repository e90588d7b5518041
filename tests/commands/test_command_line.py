"""Every user-facing tool on the one binder: ``--help`` lists that tool's flags, grouped, with examples that parse
and name files that exist; aliases are NVIDIA's and google-research's flag names; exit 2 for bad settings; quiet
TensorFlow unless ``--verbose``."""
import importlib
import importlib.util
import os
import re
import shlex
import subprocess
import sys

import pytest

from electra import cli
from electra.commands.entry import NOISE, filtered_stderr
from electra.configs import ConfigError, PretrainConfig, SquadConfig

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULES = ["electra.commands.pretrain", "electra.commands.squad", "electra.commands.evaluate_squad",
           "electra.commands.predict", "electra.commands.install_horovod", "data_prep.prepare", "data_prep.build_vocab",
           "data_prep.build_pretraining_dataset", "data_prep.corpus", "data_prep.download", "run_scripts/quickstart.py"]
# flags only the other kind of run reads
NOT_LISTED = {
    "electra.commands.pretrain": ["--trainer.epochs", "--optimizer.layerwise_lr_decay", "--trainer.keep_best",
                                  "--trainer.eval_at_epoch_end", "--decoding.", "--head.", "--num_train_epochs"],
    "electra.commands.squad": ["--model.generator_fraction", "--trainer.eval_steps", "--objective.", "--data.mask_prob",
                               "--data.train_files", "--generator_hidden_size"],
}


def command(module: str):
    if module.endswith(".py"):
        spec = importlib.util.spec_from_file_location("quickstart_script", os.path.join(ROOT, module))
        loaded = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(loaded)
        return loaded.COMMAND
    return importlib.import_module(module).COMMAND


def examples(cmd) -> list[list[str]]:
    """The argument lists of the docstring's example lines that run this tool (``\\`` continuations joined)."""
    program = cmd.name.split()[-1]
    found = []
    for line in cmd.doc.replace("\\\n", " ").splitlines():
        if line.startswith("  ") and program in line and not line.strip().startswith(("bash", "horovodrun")):
            found.append(shlex.split(line.split(program, 1)[1], comments=True))
    return found


@pytest.mark.parametrize("module", MODULES)
def test_help_lists_the_tools_flags_grouped_with_examples_that_parse(module, capsys):
    cmd = command(module)
    with pytest.raises(SystemExit) as done:
        cmd.parse(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: {cmd.name}") and "--verbose" in text and "general:" in text
    for flag in cli.flags_of(cmd.config):
        assert (f"--{flag.name}" in text) or (flag.positional and flag.name.upper() in text), flag.name
        if "." in flag.name:
            assert f"\n{flag.name.rsplit('.', 1)[0]}:" in text      # grouped by config section
    for flag in NOT_LISTED.get(module, []):
        assert flag not in text, f"{cmd.name} --help lists {flag}"
    runs = examples(cmd)
    assert runs, f"{cmd.name}: no example in --help"
    for argv in runs:
        cmd.parse(argv, check=False)
        for path in re.findall(r"\b(?:recipes|tests)/[\w./-]+\.json\b", " ".join(argv)):
            assert os.path.exists(os.path.join(ROOT, path)), path


def test_pretraining_and_fine_tuning_have_their_own_flags():
    pretrain = {f.name for f in cli.flags_of(PretrainConfig)}
    squad = {f.name for f in cli.flags_of(SquadConfig)}
    assert {"trainer.eval_steps", "model.generator_fraction"} <= pretrain - squad
    assert {"trainer.epochs", "trainer.keep_best", "optimizer.layerwise_lr_decay"} <= squad - pretrain
    with pytest.raises(ConfigError, match="unrecognized arguments: --trainer.epochs=2"):
        cli.parse(PretrainConfig, ["--output_dir=x", "--trainer.epochs=2"], "")


def test_aliases_are_nvidia_and_google_flag_names():
    config = cli.parse(PretrainConfig, ["--output_dir=x", "--num_train_steps=50", "--num_warmup_steps=5",
                                        "--lr_decay_power=1.0", "--pretrain_tfrecords=a/*.tfrecord",
                                        "--generator_hidden_size=0.25", "--restore_checkpoint=none"], "")
    assert (config.trainer.total_steps, config.optimizer.warmup_steps, config.optimizer.poly_power) == (50, 5, 1.0)
    assert config.data.train_files == "a/*.tfrecord" and config.model.generator_fraction == 0.25
    assert config.trainer.restore == "none"
    squad = cli.parse(SquadConfig, ["--output_dir=x", "--mode=train", "--train_file=setup.py", "--num_train_epochs=3",
                                    "--joint_prediction=false", "--answerable_classifier", "--weight_decay_rate=0"], "")
    assert squad.trainer.epochs == 3 and not squad.head.joint and squad.head.answerability
    assert squad.optimizer.weight_decay == 0
    for dropped in ("--total_steps=5", "--validation_freq=5", "--model_config_file=x", "--clip_norm=1"):
        with pytest.raises(ConfigError, match="unrecognized arguments"):
            cli.parse(PretrainConfig, ["--output_dir=x", dropped], "")
    # Python keywords cannot hold dots: build() takes a field's own name when it is unique
    assert cli.build(PretrainConfig, output_dir="x", total_steps=7, warmup_steps=1).trainer.total_steps == 7


def test_positional_required_and_list_knobs():
    evaluate = command("electra.commands.evaluate_squad")
    config = evaluate.parse(["gold.json", "pred.json", "--version=2.0"], check=False)
    assert (config.dataset_file, config.prediction_file, config.version) == ("gold.json", "pred.json", "2.0")
    with pytest.raises(ConfigError, match="required: PREDICTION_FILE"):
        evaluate.parse(["gold.json"])
    vocab = command("data_prep.build_vocab")
    assert vocab.parse(["--input", "a.txt", "b/*.txt", "--output_dir=v"]).input == ("a.txt", "b/*.txt")
    with pytest.raises(ConfigError, match="--input is required"):
        vocab.parse(["--output_dir=v"])
    assert command("run_scripts/quickstart.py").parse(["--train_articles", "1", "5"]).train_articles == (1, 5)


def test_bad_settings_exit_2_with_one_line(capsys):
    assert command("data_prep.build_vocab").main(["--output_dir=v"]) == 2
    assert command("electra.commands.pretrain").main(["--output_dir=x", "--trainer.total_steps=0"]) == 2
    err = capsys.readouterr().err
    assert "--input is required" in err and "--trainer.total_steps=0" in err and "Traceback" not in err


def test_the_stderr_filter_drops_noise_and_keeps_every_other_line(capfd):
    with filtered_stderr():
        os.write(2, b"I0000 00:00:1.0 cudart_stub.cc:31] Could not find cuda drivers on your machine.\n"
                    b"our own warning\n"
                    b"E0000 00:00:1.0 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)\n"
                    b"E0000 00:00:1.0 some_op.cc:1] a real TensorFlow error\n")
    assert capfd.readouterr().err == "our own warning\nE0000 00:00:1.0 some_op.cc:1] a real TensorFlow error\n"


@pytest.mark.slow
def test_a_tiny_run_is_quiet_and_verbose_brings_tensorflow_back(tmp_path):
    sys.path.insert(0, ROOT)
    from tests.training.conftest import pretrain_flags, tiny_model_config, write_records, write_vocab
    write_records(tmp_path / "train", files=1, seed=0)
    data = {"train": str(tmp_path / "train" / "*.tfrecord"), "vocab": write_vocab(tmp_path / "vocab.txt")}
    model = tiny_model_config(tmp_path / "model.json")
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TF_CPP_MAX_VLOG_LEVEL")}
    env["PYTHONPATH"] = ROOT
    script = os.path.join(ROOT, "run_scripts", "run_pretraining.py")
    err = {}
    for name, extra in (("quiet", []), ("verbose", ["--verbose"])):
        flags = pretrain_flags(data, str(tmp_path / name), model, total_steps=2, warmup_steps=1)
        done = subprocess.run([sys.executable, script, *flags, *extra], capture_output=True, text=True, timeout=600,
                              cwd=ROOT, env=env)
        assert done.returncode == 0, done.stderr[-3000:]
        err[name] = done.stderr
    noise = [line for line in err["quiet"].splitlines() if NOISE.search(line)]
    assert not noise, noise
    assert not re.search(r"^[IWE]\d{4} ", err["quiet"], re.M), err["quiet"][-3000:]       # no absl C++ lines at all
    assert "Sharding callback duration" not in err["quiet"]
    assert re.search(r"^[IWE]\d{4} ", err["verbose"], re.M) and NOISE.search(err["verbose"])
