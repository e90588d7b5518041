import importlib.util
import json
import math
import os
import pathlib
import re
import subprocess
import sys

import pytest

from electra import cli
from electra.configs import PRESETS, ConfigError, ModelConfig, PretrainConfig, Range, SquadConfig, knob, preset

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name,hidden,layers,heads,emb,gen_hidden", [
    ("small", 256, 12, 4, 128, 64), ("base", 768, 12, 12, 768, 256), ("large", 1024, 24, 16, 1024, 256)])
def test_presets_follow_the_paper(name, hidden, layers, heads, emb, gen_hidden):
    c = preset(name)
    assert (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.embedding_size) == (hidden, layers, heads, emb)
    assert c.intermediate_size == 4 * hidden
    assert c.generator_hidden_size == gen_hidden
    assert c.generator_num_attention_heads == max(1, gen_hidden // 64)
    assert c.generator_intermediate_size == 4 * gen_hidden
    assert c.generator_num_hidden_layers == layers
    assert c.vocab_size == 30522


def test_padded_vocab_rows():
    assert preset("base").embedding_vocab_size == 30522
    assert preset("base", pad_vocab_to_multiple_of=8).embedding_vocab_size == 30528


def test_generator_fraction_override_rederives_generator():
    c = preset("base", generator_fraction=0.25)
    assert (c.generator_hidden_size, c.generator_num_attention_heads, c.generator_intermediate_size) == (192, 3, 768)


def test_json_round_trip(tmp_path):
    c = preset("small", vocab_size=32000)
    c.to_json_file(tmp_path / "c.json")
    assert ModelConfig.from_json_file(tmp_path / "c.json") == c


def test_config_is_frozen():
    with pytest.raises(Exception):
        PRESETS["tiny"].hidden_size = 3


@pytest.mark.parametrize("changes,message", [
    (dict(hidden_size=30), "not divisible"),
    (dict(hidden_act="swish"), "hidden_act"),
    (dict(num_hidden_layers=0), "num_hidden_layers"),
    (dict(hidden_dropout_prob=1.5), "hidden_dropout_prob"),
    (dict(vocab_size=1.5), "vocab_size"),
])
def test_invalid_configs_name_the_field(changes, message):
    with pytest.raises(ValueError, match=message):
        preset("small", **changes)


def test_unknown_fields_and_presets_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="hiden_size"):
        preset("small", hiden_size=3)
    with pytest.raises(ValueError, match="medium"):
        preset("medium")
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"hidden_size": 256, "colour": "red"}))
    with pytest.raises(ValueError, match=f"{path}.*colour"):
        ModelConfig.from_json_file(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match=str(path)):
        ModelConfig.from_json_file(path)


def test_vocab_larger_than_table_is_a_clear_error():
    with pytest.raises(ValueError, match="30600 tokens.*vocab_size is 30522"):
        preset("small").validate_vocab(30600)
    preset("small").validate_vocab(30522)


def _command(path: str):
    """The ``COMMAND`` of a module file (``run_scripts/quickstart.py`` is not in a package)."""
    name = "command_" + path.replace("/", "_")[:-3]
    spec = importlib.util.spec_from_file_location(name, ROOT / path)
    module = sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.COMMAND


COMMANDS = sorted(str(p.relative_to(ROOT)) for folder in ("electra/commands", "data_prep", "run_scripts")
                  for p in (ROOT / folder).glob("*.py") if re.search(r"^COMMAND = ", p.read_text(), re.M))


def test_every_command_is_found():
    """setup.py's console commands, the data_prep tools and the quickstart are all walked below."""
    setup = (ROOT / "setup.py").read_text()
    consoles = re.findall(r'"([\w.]+):main"', setup[setup.index("COMMANDS = {"):])
    assert len(consoles) == 9
    walked = {path[:-3].replace("/", ".") for path in COMMANDS}
    assert set(consoles) <= walked and "run_scripts.quickstart" in walked
    assert {"data_prep.build_vocab", "data_prep.build_pretraining_dataset", "data_prep.corpus"} <= walked


@pytest.mark.parametrize("path", COMMANDS)
def test_every_number_of_every_command_has_a_range_its_default_is_in(path):
    config = _command(path).config
    numbers = [f for f in cli.flags_of(config, instance=cli._defaults(config)) if f.kind in (int, float)]
    for flag in numbers:
        assert isinstance(flag.valid, Range), f"{path}: --{flag.name} has no valid range"
        defaults = flag.default if flag.many else (flag.default,)
        assert all(value is None or value in flag.valid for value in defaults), (path, flag.name, flag.default)


@pytest.mark.parametrize("argv,message", [
    (["--optimizer.beta_1=1.5"], "--optimizer.beta_1=1.5 must be in [0, 1)"),
    (["--optimizer.beta_2=-1"], "--optimizer.beta_2=-1.0 must be in [0, 1)"),
    (["--optimizer.epsilon=-1"], "--optimizer.epsilon=-1.0 must be > 0"),
    (["--weight_decay_rate=-0.1"], "--optimizer.weight_decay=-0.1 must be >= 0"),
    (["--trainer.eval_steps=-1"], "--trainer.eval_steps=-1 must be >= 1"),
    (["--data.shuffle_buffer=-5"], "--data.shuffle_buffer=-5 must be >= 1"),
    (["--learning_rate=inf"], "--optimizer.learning_rate=inf must be a finite number > 0"),
    (["--objective.gen_weight=nan"], "--objective.gen_weight=nan must be a finite number >= 0"),
    (["--objective.temperature=0"], "--objective.temperature=0.0 must be > 0"),
    (["--data.mask_prob=1"], "--data.mask_prob=1.0 must be in (0, 1)"),
    (["--trainer.total_steps=0"], "--trainer.total_steps=0 must be >= 1"),
])
def test_flags_out_of_range_are_refused_naming_flag_value_and_range(argv, message):
    with pytest.raises(ConfigError) as error:
        cli.parse(PretrainConfig, ["--output_dir=x", *argv], "", check=False)
    assert str(error.value) == f"command line: {message}"


def test_fine_tuning_ranges_and_floats_that_may_be_negative():
    squad = ["--output_dir=x", "--mode=train", f"--train_file={ROOT / 'setup.py'}"]
    assert cli.parse(SquadConfig, squad + ["--null_score_diff_threshold=-5.6"], "").decoding \
        .null_score_diff_threshold == -5.6
    for flag, message in (("--decoding.null_score_diff_threshold=nan", "must be a finite number"),
                          ("--doc_stride=0", "--data.doc_stride=0 must be >= 1"),
                          ("--optimizer.layerwise_lr_decay=1.5", "must be in (0, 1]"),
                          ("--decoding.beam_size=0", "must be >= 1")):
        with pytest.raises(ConfigError, match=re.escape(message)):
            cli.parse(SquadConfig, squad + [flag], "")
    with pytest.raises(ConfigError, match=r"max_seq_length=64 must be >= data.max_query_length \+ 4"):
        cli.parse(SquadConfig, squad + ["--max_seq_length=64"], "")       # cross-field checks stay


def _recipe(tmp_path, text: str) -> str:
    path = tmp_path / "recipe.json"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("text,message", [
    ('{"optimizer": {"learning_rate": Infinity}}', "--optimizer.learning_rate=inf must be a finite number > 0"),
    ('{"optimizer.learning_rate": NaN}', "--optimizer.learning_rate=nan must be a finite number > 0"),
    ('{"data": {"shuffle_buffer": -5}}', "--data.shuffle_buffer=-5 must be >= 1"),
    ('{"trainer": {"eval_steps": -1}}', "--trainer.eval_steps=-1 must be >= 1"),
    ('{"weight_decay_rate": -0.1}', "--optimizer.weight_decay=-0.1 must be >= 0"),
])
def test_recipe_values_out_of_range_name_the_recipe(tmp_path, text, message):
    recipe = _recipe(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        cli.parse(PretrainConfig, ["--output_dir=x", f"--config={recipe}"], "")
    assert str(error.value) == f"--config={recipe}: {message}"


def test_build_checks_the_same_ranges():
    with pytest.raises(ConfigError, match=re.escape("arguments: --objective.temperature=0.0 must be > 0")):
        cli.build(PretrainConfig, output_dir="x", temperature=0)
    with pytest.raises(ConfigError, match=re.escape("arguments: --optimizer.learning_rate=inf must be a finite")):
        cli.build(PretrainConfig, {"optimizer.learning_rate": math.inf}, output_dir="x")


def test_help_shows_each_range():
    text = " ".join(cli.build_parser(PretrainConfig, "").format_help().split())
    assert "(default: 0.878; in [0, 1))" in text and "(default: 20; >= 1)" in text


def test_a_range_is_an_interval_a_bound_or_finite():
    assert [v in Range.parse("(0, 1]") for v in (0, 0.5, 1, 2)] == [False, True, True, False]
    assert [v in Range.parse(">= -1") for v in (-2, -1, 10**9, math.inf)] == [False, True, True, False]
    assert math.nan not in Range.parse("finite") and -1e300 in Range.parse("finite")
    with pytest.raises(ValueError, match="0..1"):
        knob(0.5, "A fraction.", valid="0..1")


@pytest.mark.parametrize("argv,first,second", [
    (["--learning_rate=1e-3", "--optimizer.learning_rate=2e-3"], "--learning_rate=0.001",
     "--optimizer.learning_rate=0.002"),
    (["--xla", "--noxla"], "--xla", "--noxla"),
    (["--xla=true", "--xla=false"], "--xla=true", "--xla=false"),
    (["--trainer.seed=1", "--seed=2"], "--trainer.seed=1", "--seed=2"),
    (["--runtime.stop_signals", "TERM", "--runtime.stop_signals", "INT"], "--runtime.stop_signals=TERM",
     "--runtime.stop_signals=INT"),
])
def test_a_setting_given_twice_on_the_command_line_must_agree(argv, first, second):
    with pytest.raises(ConfigError) as error:
        cli.parse(PretrainConfig, ["--output_dir=x", *argv], "")
    assert str(error.value).startswith(f"command line: {first} and {second} set ")
    config = cli.parse(PretrainConfig, ["--output_dir=x", "--learning_rate=1e-3", "--optimizer.learning_rate=0.001",
                                        "--xla", "--trainer.xla=true", "--seed=3", "--seed=3"], "")
    assert (config.optimizer.learning_rate, config.trainer.xla, config.trainer.seed) == (1e-3, True, 3)


@pytest.mark.parametrize("text,first,second", [
    ('{"optimizer.learning_rate": 1, "optimizer": {"learning_rate": 2}}', '{"optimizer.learning_rate": 1}',
     '{"optimizer": {"learning_rate": 2}}'),
    ('{"optimizer": {"learning_rate": 1}, "learning_rate": 2}', '{"optimizer": {"learning_rate": 1}}',
     '{"learning_rate": 2}'),
    ('{"trainer": {"xla": true}, "trainer.xla": false}', '{"trainer": {"xla": true}}', '{"trainer.xla": false}'),
])
def test_a_setting_given_twice_in_one_recipe_must_agree(tmp_path, text, first, second):
    recipe = _recipe(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        cli.parse(PretrainConfig, ["--output_dir=x", f"--config={recipe}"], "")
    assert str(error.value).startswith(f"--config={recipe}: {first} and {second} set ")


def test_recipe_settings_that_agree_and_flags_over_a_recipe_are_accepted(tmp_path):
    recipe = _recipe(tmp_path, '{"optimizer.learning_rate": 0.001, "optimizer": {"learning_rate": 1e-3}, '
                               '"learning_rate": 0.001, "trainer": {"seed": 5, "seed": 5}}')
    assert cli.parse(PretrainConfig, ["--output_dir=x", f"--config={recipe}"], "").optimizer.learning_rate == 1e-3
    flags_win = cli.parse(PretrainConfig, ["--output_dir=x", f"--config={recipe}", "--learning_rate=2e-3"], "")
    assert flags_win.optimizer.learning_rate == 2e-3 and flags_win.trainer.seed == 5
    recipe = _recipe(tmp_path, '{"trainer": {"seed": 5, "seed": 6}}')
    with pytest.raises(ConfigError, match=re.escape(f'--config={recipe}: "seed" given twice in one object (5 and 6)')):
        cli.parse(PretrainConfig, ["--output_dir=x", f"--config={recipe}"], "")


def test_bad_settings_exit_2_before_tensorflow_is_imported(tmp_path):
    """The real launcher, in a fresh interpreter: each bad setting exits 2 with one line, TensorFlow never loaded."""
    recipe = _recipe(tmp_path, '{"optimizer": {"learning_rate": Infinity}}')
    cases = [["--optimizer.beta_1=1.5", "--optimizer.beta_2=-1", "--optimizer.epsilon=-1"],
             ["--learning_rate=1e-3", "--optimizer.learning_rate=2e-3"], ["--xla", "--noxla"], [f"--config={recipe}"]]
    script = f"""
import contextlib, io, json, runpy, sys
results = []
for argv in {cases!r}:
    sys.argv = ["run_pretraining.py", "--output_dir={tmp_path / 'run'}", *argv]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            runpy.run_path({str(ROOT / 'run_scripts' / 'run_pretraining.py')!r}, run_name="__main__")
        except SystemExit as e:
            results.append([e.code, err.getvalue(), "tensorflow" in sys.modules])
print(json.dumps(results))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    results = json.loads(done.stdout.splitlines()[-1])
    assert len(results) == len(cases), done.stderr
    messages = ["--optimizer.beta_1=1.5 must be in [0, 1)", "--learning_rate=0.001 and --optimizer.learning_rate=0.002",
                "--xla and --noxla", "recipe.json: --optimizer.learning_rate=inf must be a finite number > 0"]
    for (code, err, tensorflow), message in zip(results, messages):
        assert code == 2 and err.count("\n") == 1 and err.startswith("electra-pretrain: ") and message in err, err
        assert not tensorflow
    assert not (tmp_path / "run").exists()


def test_a_cross_field_error_names_the_recipe_that_gave_a_value():
    recipe = str(ROOT / "recipes" / "pretrain_phase1.json")           # warmup_steps 2000
    with pytest.raises(ConfigError) as error:
        cli.parse(PretrainConfig, ["--output_dir=x", f"--config={recipe}", "--trainer.total_steps=500"], "")
    assert str(error.value) == ("--optimizer.warmup_steps=2000 must be <= --trainer.total_steps=500 "
                                f"(--optimizer.warmup_steps from --config={recipe})")
    with pytest.raises(ConfigError, match=r"total_steps=500$"):      # both from the command line
        cli.parse(PretrainConfig, ["--output_dir=x", f"--config={recipe}", "--trainer.total_steps=500",
                                   "--num_warmup_steps=600"], "")


def test_build_keywords_win_over_its_values_as_flags_over_a_recipe():
    recipe = cli.load_recipe(str(ROOT / "recipes" / "pretrain_tiny_cpu.json"))    # trainer.total_steps 400
    config = cli.build(PretrainConfig, recipe, **{"output_dir": "x", "trainer.total_steps": 100})
    assert config.trainer.total_steps == 100 and config.optimizer.learning_rate == 2e-3
    with pytest.raises(ConfigError, match="set trainer.total_steps to different values"):
        cli.build(PretrainConfig, {"trainer": {"total_steps": 400}, "max_steps": 100}, output_dir="x")
