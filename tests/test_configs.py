import json

import pytest

from electra.configs import PRESETS, ModelConfig, ObjectiveConfig, preset


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


def test_objective_validation():
    with pytest.raises(ValueError, match="temperature"):
        ObjectiveConfig(temperature=0)
