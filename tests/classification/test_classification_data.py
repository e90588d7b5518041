"""Classification data: every GLUE layout, the user's CSV / TSV / JSON Lines, every bad-input case (the message names
file, line and column), the label set, and the features (against BERT's tokenize → convert → truncate recipe)."""
import csv
import json
import pathlib

import numpy as np
import pytest

from electra.classification.data import (GLUE_TASKS, DataError, Example, LabelSet, encode, read_glue, read_table,
                                         truncated_lengths)
from electra.tokenization import load_tokenizer

FIXTURES = pathlib.Path(__file__).parents[1] / "fixtures"
GLUE = FIXTURES / "glue"


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(FIXTURES / "vocab" / "bert-uncased-vocab.txt")


def lines_of(relative: str) -> list[str]:
    return (GLUE / relative).read_text(encoding="utf-8").splitlines(keepends=True)


def write_lines(path: pathlib.Path, lines) -> str:
    path.write_text("".join(lines), encoding="utf-8")
    return str(path)


# --- GLUE layouts ------------------------------------------------------------------------------------------------
# (task, file, examples, (first guid, first text_a, first text_b, first label), (last guid, last line, last label))
LAYOUTS = [
    ("cola", "CoLA/train.tsv", 42,
     ("train.tsv:1", "Our friends won't buy this analysis, let alone the next one we propose.", None, "1"),
     ("train.tsv:42", 42, "1")),
    ("cola", "CoLA/test.tsv", 10, ("0", "John danced waltzes across the room.", None, None), ("9", 11, None)),
    ("sst-2", "SST-2/train.tsv", 40, ("train.tsv:2", "hide new secretions from the parental units ", None, "0"),
     ("train.tsv:41", 41, "1")),
    ("sst-2", "SST-2/test.tsv", 10, ("0", "the action is stilted ", None, None), ("9", 11, None)),
    ("mrpc", "MRPC/train.tsv", 16,
     ("train.tsv:2", "Many people are in the bicycle racing, including one man in a three-wheeled bike.",
      "A man riding on a three-wheeled wheelchair.", "0"), ("train.tsv:17", 17, "0")),
    ("mrpc", "MRPC/dev.tsv", 8, ("dev.tsv:2", "A man picking up a big rock.", "A woman picking up a large rock.", "0"),
     ("dev.tsv:9", 9, "0")),
    ("mrpc", "MRPC/test.tsv", 8, ("0", "A man picking up a big rock.", "A woman picking up a large rock.", None),
     ("7", 9, None)),
    ("sts-b", "STS-B/train.tsv", 124, ("0", "A plane is taking off.", "An air plane is taking off.", 5.0),
     ("5748", 125, 0.0)),
    ("sts-b", "STS-B/test.tsv", 10,
     ("0", "The whole earth combined produces enough food for  billion people.",
      "Who does it now only produce enough for  billion?", None), ("9", 11, None)),
    ("qqp", "QQP/train.tsv", 12,
     ("301999", "A young girl dressed in a Minnie mouse outfit and an older woman walking down the sidewalk.",
      "a man wearing a white suit holding a newspaper walking through the streets.", "0"), ("302010", 13, "0")),
    ("qqp", "QQP/dev.tsv", 8, ("302011", "There's no chance of a fair trial.", "there is no chance at a fair trial.",
                               "1"), ("302018", 9, "0")),
    ("qqp", "QQP/test.tsv", 8, ("0", "There's no chance of a fair trial.", "there is no chance at a fair trial.", None),
     ("7", 9, None)),
    ("mnli", "MNLI/train.tsv", 12, ("0", "No Weapons of Mass Destruction Found in Iraq Yet.",
                                    "Weapons of Mass Destruction Found in Iraq.", "contradiction"),
     ("11", 13, "entailment")),
    ("mnli", "MNLI/dev_matched.tsv", 8,
     ("0", 'Valero Energy Corp., on Monday, said it found "extensive" additional damage at its 250,000-barrel-per-day '
           'Port Arthur refinery.', "Valero Energy Corp. produces 250,000 barrels per day.", "entailment"),
     ("7", 9, "neutral")),
    ("mnli-mm", "MNLI/dev_mismatched.tsv", 8,
     ("0", None, "In 2002 near Stuttgart a boy shot 16 people.", "contradiction"), ("7", 9, "neutral")),
    ("mnli", "MNLI/test_matched.tsv", 6, ("0", None, "In 2002 near Stuttgart a boy shot 16 people.", None),
     ("5", 7, None)),
    ("mnli-mm", "MNLI/test_mismatched.tsv", 6, ("0", None, "Humans existed 10,000 years ago.", None), ("5", 7, None)),
    ("qnli", "QNLI/train.tsv", 12, ("0", "Weapons of Mass Destruction Found in Iraq.",
                                    "No Weapons of Mass Destruction Found in Iraq Yet.", "not_entailment"),
     ("11", 13, "entailment")),
    ("qnli", "QNLI/test.tsv", 6, ("0", "In 2002 near Stuttgart a boy shot 16 people.", None, None), ("5", 7, None)),
    ("rte", "RTE/train.tsv", 30, ("0", "No Weapons of Mass Destruction Found in Iraq Yet.",
                                  "Weapons of Mass Destruction Found in Iraq.", "not_entailment"),
     ("29", 31, "entailment")),
    ("rte", "RTE/test.tsv", 10, ("0", None, "In 2002 near Stuttgart a boy shot 16 people.", None), ("9", 11, None)),
    ("wnli", "WNLI/train.tsv", 10, ("0", "No Weapons of Mass Destruction Found in Iraq Yet.",
                                    "Weapons of Mass Destruction Found in Iraq.", "0"), ("9", 11, "1")),
    ("wnli", "WNLI/dev.tsv", 6, ("0", None, "Lina Joy's parents are from Malaysia.", "1"), ("5", 7, "1")),
    ("wnli", "WNLI/test.tsv", 6, ("0", None, 'Sierra once reached the finals of "American Idol".', None),
     ("5", 7, None)),
    ("ax", "diagnostic/diagnostic.tsv", 8, ("0", "No Weapons of Mass Destruction Found in Iraq Yet.",
                                            "Weapons of Mass Destruction Found in Iraq.", None), ("7", 9, None)),
]


@pytest.mark.parametrize("task, relative, count, first, last", LAYOUTS, ids=[f"{t}:{f}" for t, f, *_ in LAYOUTS])
def test_each_glue_layout_reads(task, relative, count, first, last):
    examples = read_glue(task, str(GLUE / relative))
    assert len(examples) == count
    guid, text_a, text_b, label = first
    head = examples[0]
    assert head.guid == guid and head.label == label
    if text_a is not None:
        assert head.text_a == text_a
    if text_b is not None:
        assert head.text_b == text_b
    assert all((e.text_b is None) == (task in ("cola", "sst-2")) for e in examples)
    assert (examples[-1].guid, examples[-1].line, examples[-1].label) == last
    spec = GLUE_TASKS[task]
    if spec.regression:
        assert all(e.label is None or isinstance(e.label, float) for e in examples)
    else:
        assert {e.label for e in examples} <= set(spec.labels) | {None}
    assert [e.line for e in examples] == sorted(e.line for e in examples)


def test_every_glue_task_and_file_has_a_fixture():
    for spec in GLUE_TASKS.values():
        for split, _ in spec.files:
            path = spec.path(str(GLUE), split)
            if pathlib.Path(path).exists():
                assert read_glue(spec.name, path)
            else:   # the dev files of CoLA / SST-2 / STS-B / RTE share the train layout read above
                assert split == "dev" and spec.name in ("cola", "sst-2", "sts-b", "rte")
    assert GLUE_TASKS["mnli-mm"].file("dev") == "dev_mismatched.tsv"
    assert GLUE_TASKS["sts-b"].label_set() is None and GLUE_TASKS["qnli"].label_set().names == GLUE_TASKS["rte"].labels
    assert GLUE_TASKS["ax"].file("test") == "diagnostic.tsv" and GLUE_TASKS["ax"].labels == GLUE_TASKS["mnli"].labels


def test_glue_texts_are_read_with_quoting_off():
    cola = read_glue("cola", str(GLUE / "CoLA/train.tsv"))
    assert cola[-2].text_a == 'Susan whispered "Shut up".'
    sts = read_glue("sts-b", str(GLUE / "STS-B/train.tsv"))
    quoted = next(e for e in sts if e.guid == "2001")
    assert quoted.text_a == '"Then the captain was gone.' and quoted.label == pytest.approx(0.8)
    raw = [line.rstrip("\n").split("\t") for line in lines_of("STS-B/train.tsv")[1:]]
    assert [e.label for e in sts] == [float(r[-1]) for r in raw]
    assert [(e.text_a, e.text_b) for e in sts] == [(r[7], r[8]) for r in raw]


def test_mrpc_header_with_byte_order_mark():
    assert (GLUE / "MRPC/train.tsv").read_bytes().startswith(b"\xef\xbb\xbfQuality\t")
    assert read_glue("mrpc", str(GLUE / "MRPC/train.tsv"))[0].label == "0"


def test_glue_test_file_refused_where_labels_are_needed():
    with pytest.raises(DataError, match=r"test.tsv:1: header: this is the GLUE RTE test layout, which has no labels"):
        read_glue("rte", str(GLUE / "RTE/test.tsv"), require_labels=True)
    assert read_glue("rte", str(GLUE / "RTE/train.tsv"), require_labels=True)


def test_unknown_glue_task():
    with pytest.raises(ValueError, match="unknown GLUE task 'sst'; the tasks are cola, sst-2"):
        read_glue("sst", str(GLUE / "SST-2/train.tsv"))


# --- GLUE bad input: each names file, line and column ---------------------------------------------------------
def edited(tmp_path, relative, line, old, new):
    lines = lines_of(relative)
    assert old in lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    return write_lines(tmp_path / pathlib.Path(relative).name, lines)


def test_glue_header_of_another_task(tmp_path):
    path = write_lines(tmp_path / "train.tsv", lines_of("SST-2/train.tsv"))
    with pytest.raises(DataError) as error:
        read_glue("rte", path)
    assert str(error.value) == (
        f"{path}:1: header ['sentence', 'label'] does not match the GLUE RTE layout (train/dev: header "
        "'index\\tsentence1\\tsentence2\\tlabel'; test: header 'index\\tsentence1\\tsentence2'); it is the header of "
        "GLUE SST-2 train/dev")
    with pytest.raises(DataError, match=r"train.tsv:1: first line .* GLUE CoLA layout \(train/dev: no header, 4 col"):
        read_glue("cola", path)


def test_glue_label_not_in_the_set(tmp_path):
    path = edited(tmp_path, "SST-2/train.tsv", 5, "\t0", "\tmaybe")
    with pytest.raises(DataError) as error:
        read_glue("sst-2", path)
    assert str(error.value) == f"{path}:5: column 'label': 'maybe' is not one of the labels ['0', '1']"
    path = edited(tmp_path, "MNLI/dev_matched.tsv", 4, "\tcontradiction\n", "\t-\n")
    with pytest.raises(DataError, match=r"dev_matched.tsv:4: column 'gold_label': '-' is not one of the labels"):
        read_glue("mnli", path)


def test_glue_wrong_number_of_fields(tmp_path):
    path = edited(tmp_path, "RTE/train.tsv", 7, "\t", " ")
    with pytest.raises(DataError) as error:
        read_glue("rte", path)
    assert str(error.value) == (f"{path}:7: 3 field(s) where the GLUE RTE train/dev layout has 4 (index, sentence1, "
                                "sentence2, label)")
    # a quote is text, not the start of a quoted field that would swallow the tab
    path = edited(tmp_path, "CoLA/train.tsv", 3, "\t\t", '\t"\t')
    assert read_glue("cola", path)[2].text_a == "One more pseudo generalization or I'm giving up."
    path = edited(tmp_path, "CoLA/train.tsv", 3, "\t\t", "\t")
    with pytest.raises(DataError, match=r"train.tsv:3: 3 field\(s\) where the GLUE CoLA train/dev layout has 4"):
        read_glue("cola", path)


def test_glue_empty_text(tmp_path):
    path = edited(tmp_path, "STS-B/train.tsv", 9, "The man is playing the guitar.", "  ")
    with pytest.raises(DataError) as error:
        read_glue("sts-b", path)
    assert str(error.value) == f"{path}:9: column 'sentence2': empty text"


@pytest.mark.parametrize("score, problem", [("n/a", "'n/a' is not a number"), ("nan", "'nan' is not a finite number"),
                                            ("5.5", "'5.5' is outside the range [0, 5]")])
def test_glue_bad_regression_target(tmp_path, score, problem):
    path = edited(tmp_path, "STS-B/train.tsv", 3, "\t3.800\n", f"\t{score}\n")
    with pytest.raises(DataError) as error:
        read_glue("sts-b", path)
    assert str(error.value).startswith(f"{path}:3: column 'score': {problem}")


def test_glue_invalid_utf8_names_the_line(tmp_path):
    raw = (GLUE / "RTE/train.tsv").read_bytes().split(b"\n")
    raw[3] = raw[3].replace(b" ", b" \xff", 1)
    path = tmp_path / "train.tsv"
    path.write_bytes(b"\n".join(raw))
    with pytest.raises(DataError, match=rf"^{path}:4: not UTF-8 text \(byte 0xff at byte \d+ of the line\)$"):
        read_glue("rte", str(path))


def test_glue_empty_file_and_header_only(tmp_path):
    empty = write_lines(tmp_path / "empty.tsv", [])
    with pytest.raises(DataError, match=rf"^{empty}: empty file; expected a GLUE QNLI file"):
        read_glue("qnli", empty)
    header = write_lines(tmp_path / "header.tsv", lines_of("QNLI/train.tsv")[:1])
    with pytest.raises(DataError, match=rf"^{header}: no examples after the header on line 1$"):
        read_glue("qnli", header)


def test_glue_mnli_dev_row_in_train_layout(tmp_path):
    lines = lines_of("MNLI/dev_matched.tsv")
    lines[3] = "\t".join(lines[3].rstrip("\n").split("\t")[:11] + ["neutral"]) + "\n"
    path = write_lines(tmp_path / "dev_matched.tsv", lines)
    with pytest.raises(DataError, match=r"dev_matched.tsv:4: 12 field\(s\) where the GLUE MNLI-m dev layout has 16"):
        read_glue("mnli", path)


# --- the user's own files -----------------------------------------------------------------------------------------
def rte_rows():
    return [line.rstrip("\n").split("\t") for line in lines_of("RTE/train.tsv")[1:]]


def test_csv_named_columns_with_quoting(tmp_path):
    rows = rte_rows()[:12]
    path = tmp_path / "pairs.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "premise", "hypothesis", "gold"])
        for row in rows:
            writer.writerow(row)
        writer.writerow(["99", "a premise\nover two lines, with \"quotes\"", "a hypothesis", "entailment"])
        writer.writerow(["100", rows[0][1], rows[0][2], rows[0][3]])
    examples = read_table(path, "premise", "hypothesis", "gold")
    assert [(e.text_a, e.text_b, e.label) for e in examples[:12]] == [(r[1], r[2], r[3]) for r in rows]
    assert [e.line for e in examples] == list(range(2, 15)) + [16]      # a record's first line
    assert examples[12].text_a == 'a premise\nover two lines, with "quotes"'
    assert examples[0].guid == "pairs.csv:2"
    unlabeled = read_table(str(path), "hypothesis")
    assert unlabeled[3].text_a == rows[3][2] and unlabeled[3].text_b is None and unlabeled[3].label is None


def test_tsv_named_columns_quoting_off(tmp_path):
    lines = lines_of("STS-B/train.tsv")
    path = write_lines(tmp_path / "sts.tsv", lines)
    examples = read_table(path, "sentence1", "sentence2", "score", regression=True)
    assert examples == [Example(f"sts.tsv:{e.line}", e.text_a, e.text_b, e.label, e.line)
                        for e in read_glue("sts-b", path)]
    same = read_table(write_lines(tmp_path / "sts.txt", lines), "sentence1", format="tsv")
    assert [e.text_a for e in same] == [e.text_a for e in examples]


def test_jsonl_labels_normalized_blank_lines_skipped(tmp_path):
    sst = [line.rstrip("\n").split("\t") for line in lines_of("SST-2/train.tsv")[1:]]
    records = [{"text": s, "label": int(label)} for s, label in sst[:4]]
    records[1]["label"] = "1"
    records[2]["label"] = True
    records[3]["extra"] = [1, 2]
    path = write_lines(tmp_path / "sst.jsonl", [json.dumps(records[0]) + "\n", "\n", "  \r\n",
                                                *(json.dumps(r) + "\r\n" for r in records[1:])])
    examples = read_table(path, "text", label_column="label")
    assert [(e.text_a, e.label, e.line) for e in examples] == [
        (sst[0][0], "0", 1), (sst[1][0], "1", 4), (sst[2][0], "true", 5), (sst[3][0], "0", 6)]
    scores = write_lines(tmp_path / "s.ndjson", ['{"a": "x y", "b": "z", "s": 3}\n',
                                                 '{"a": "x", "b": "z", "s": "2.5"}'])
    assert [e.label for e in read_table(scores, "a", "b", "s", regression=True)] == [3.0, 2.5]


def test_table_format_from_extension_or_given(tmp_path):
    path = write_lines(tmp_path / "data.json", ['{"text": "a"}\n'])
    with pytest.raises(DataError, match=r"data.json: cannot tell the format from the extension '.json'"):
        read_table(path, "text")
    assert read_table(path, "text", format="jsonl")[0].text_a == "a"
    with pytest.raises(ValueError, match="unknown data format 'xlsx'"):
        read_table(path, "text", format="xlsx")


# --- the user's own files: bad input ------------------------------------------------------------------------------
def csv_file(tmp_path, rows, name="train.csv"):
    path = tmp_path / name
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)
    return str(path)


def sst_rows(n=6):
    return [["sentence", "label"]] + [line.rstrip("\n").split("\t") for line in lines_of("SST-2/train.tsv")[1:n + 1]]


def test_missing_column_names_the_columns_present(tmp_path):
    path = csv_file(tmp_path, sst_rows())
    with pytest.raises(DataError) as error:
        read_table(path, "text", label_column="label")
    assert str(error.value) == (f"{path}:1: column 'text' is missing in the header; the header has the columns "
                                "['sentence', 'label']")
    rows = sst_rows()
    rows[0] = ["sentence", "label", "label"]
    rows[1:] = [r + ["0"] for r in rows[1:]]
    with pytest.raises(DataError, match=r"train.csv:1: column 'label' appears more than once in the header"):
        read_table(csv_file(tmp_path, rows), "sentence", label_column="label")
    jsonl = write_lines(tmp_path / "a.jsonl", ['{"sentence": "good", "label": 1}\n', '{"sentence": "bad"}\n'])
    with pytest.raises(DataError) as error:
        read_table(jsonl, "sentence", label_column="label")
    assert str(error.value) == f"{jsonl}:2: column 'label' is missing; the record has the keys ['sentence']"


def test_empty_text(tmp_path):
    rows = sst_rows()
    rows[3][0] = " \t "
    path = csv_file(tmp_path, rows)
    with pytest.raises(DataError) as error:
        read_table(path, "sentence", label_column="label")
    assert str(error.value) == f"{path}:4: column 'sentence': empty text"
    jsonl = write_lines(tmp_path / "a.jsonl", ['{"t": "fine", "u": ""}\n'])
    with pytest.raises(DataError, match=r"a.jsonl:1: column 'u': empty text"):
        read_table(jsonl, "t", "u")
    jsonl = write_lines(tmp_path / "b.jsonl", ['{"t": 5}\n'])
    with pytest.raises(DataError, match=r"b.jsonl:1: column 't': expected a string, got a number 5"):
        read_table(jsonl, "t")


def test_wrong_number_of_fields(tmp_path):
    rows = sst_rows()
    rows[5].append("extra")
    path = csv_file(tmp_path, rows)
    with pytest.raises(DataError) as error:
        read_table(path, "sentence", label_column="label")
    assert str(error.value) == f"{path}:6: 3 field(s) where the header has 2 (sentence, label)"
    tsv = write_lines(tmp_path / "t.tsv", ["sentence\tlabel\n", "good\t1\n", "bad\n"])
    with pytest.raises(DataError, match=r"t.tsv:3: 1 field\(s\) where the header has 2"):
        read_table(tsv, "sentence", label_column="label")


def test_malformed_csv_and_json(tmp_path):
    path = write_lines(tmp_path / "q.csv", ["sentence,label\n", 'good,1\n', '"unclosed,0\n'])
    with pytest.raises(DataError, match=r"q.csv:3: malformed CSV record \(unexpected end of data\)"):
        read_table(path, "sentence", label_column="label")
    path = write_lines(tmp_path / "r.csv", ["sentence,label\n", 'say "hi" there,1\n', '"good" day,1\n'])
    with pytest.raises(DataError, match=r"r.csv:3: malformed CSV record \(',' expected after '\"'\)"):
        read_table(path, "sentence", label_column="label")
    path = write_lines(tmp_path / "a.jsonl", ['{"t": "ok", "l": 1}\n', '{"t": "no", "l": 0\n'])
    with pytest.raises(DataError, match=r"a.jsonl:2: malformed JSON at column 19 \(Expecting ',' delimiter\)"):
        read_table(path, "t", label_column="l")
    path = write_lines(tmp_path / "b.jsonl", ['{"t": "ok", "l": 1}\n', '["no", 0]\n'])
    with pytest.raises(DataError) as error:
        read_table(path, "t", label_column="l")
    assert str(error.value) == (f"{path}:2: a JSON Lines record must be an object with the columns as keys, got an "
                                "array")


@pytest.mark.parametrize("value, problem", [(1.5, "a class label is a string, integer or boolean, got a number 1.5"),
                                            (None, "a class label is a string, integer or boolean, got null None"),
                                            ("  ", "empty label")])
def test_bad_class_label_in_jsonl(tmp_path, value, problem):
    path = write_lines(tmp_path / "a.jsonl", ['{"t": "ok", "l": 1}\n', json.dumps({"t": "fine", "l": value}) + "\n"])
    with pytest.raises(DataError) as error:
        read_table(path, "t", label_column="l")
    assert str(error.value) == f"{path}:2: column 'l': {problem}"


@pytest.mark.parametrize("value, problem", [("high", "'high' is not a number"), (True, "True is not a number"),
                                            ("inf", "'inf' is not a finite number")])
def test_bad_regression_target(tmp_path, value, problem):
    path = write_lines(tmp_path / "a.jsonl", ['{"t": "ok", "s": 1}\n', json.dumps({"t": "fine", "s": value}) + "\n"])
    with pytest.raises(DataError) as error:
        read_table(path, "t", label_column="s", regression=True)
    assert str(error.value).startswith(f"{path}:2: column 's': {problem}")
    nan = write_lines(tmp_path / "n.jsonl", ['{"t": "ok", "s": NaN}\n'])
    with pytest.raises(DataError, match=r"n.jsonl:1: column 's': nan is not a finite number"):
        read_table(nan, "t", label_column="s", regression=True)


def test_invalid_utf8_empty_file_header_only(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"sentence,label\ngood,1\nbad \xe9,0\n")
    with pytest.raises(DataError, match=rf"^{path}:3: not UTF-8 text \(byte 0xe9 at byte 5 of the line\)$"):
        read_table(path, "sentence", label_column="label")
    empty = write_lines(tmp_path / "empty.jsonl", ["\n", "  \n"])
    with pytest.raises(DataError, match=rf"^{empty}: no examples \(the file is empty\)$"):
        read_table(empty, "t")
    header = write_lines(tmp_path / "header.csv", ["sentence,label\n"])
    with pytest.raises(DataError, match=rf"^{header}: no examples$"):
        read_table(header, "sentence", label_column="label")


# --- label set ----------------------------------------------------------------------------------------------------
def test_label_set_order_and_round_trip(tmp_path):
    rte = read_glue("rte", str(GLUE / "RTE/train.tsv"))
    labels = LabelSet.from_examples(rte, "train.tsv")
    assert labels.names == ("entailment", "not_entailment") == GLUE_TASKS["rte"].labels
    assert labels.index(rte[0], "train.tsv") == 1
    numeric = LabelSet.from_examples([Example(str(i), "t", None, n, i) for i, n in enumerate(["10", "2", "-1", "2"])],
                                     "x")
    assert numeric.names == ("-1", "2", "10")
    assert LabelSet.from_names(["b", "10", "a"]).names == ("10", "a", "b")
    saved = labels.save(str(tmp_path))
    assert saved == str(tmp_path / "labels.json")
    assert json.loads((tmp_path / "labels.json").read_text()) == ["entailment", "not_entailment"] == labels.to_json()
    assert LabelSet.from_file(str(tmp_path)) == labels == LabelSet.from_file(saved)
    mnli = LabelSet(GLUE_TASKS["mnli"].labels)
    saved = mnli.save(str(tmp_path / "mnli.json"))
    assert LabelSet.from_file(saved).names == ("contradiction", "entailment", "neutral")


def test_label_set_checks_dev_labels_against_training(tmp_path):
    train = csv_file(tmp_path, sst_rows(10))
    labels = LabelSet.from_examples(read_table(train, "sentence", label_column="label"), train)
    rows = sst_rows(10)
    rows[7][1] = "2"
    dev = csv_file(tmp_path, rows, "dev.csv")
    examples = read_table(dev, "sentence", label_column="label")
    with pytest.raises(DataError) as error:
        [labels.index(e, dev, "label") for e in examples]
    assert str(error.value) == f"{dev}:8: column 'label': '2' is not one of the labels ['0', '1']"
    with pytest.raises(DataError, match=r"^dev.csv:3: column 'label': no label \(the labels are \['0', '1'\]\)$"):
        labels.index(Example("g", "t", None, None, 3), "dev.csv")


def test_label_set_refusals(tmp_path):
    one = [Example(str(i), "t", None, "1", i) for i in range(1, 4)]
    with pytest.raises(DataError, match=r"^train.csv: only the label '1'; classification needs at least two"):
        LabelSet.from_examples(one, "train.csv")
    with pytest.raises(DataError, match=r"^s.tsv:2: label 5.0 is a number"):
        LabelSet.from_examples([Example("a", "t", None, 5.0, 2)], "s.tsv")
    with pytest.raises(ValueError, match="distinct"):
        LabelSet(("a", "a"))
    bad = write_lines(tmp_path / "labels.json", ['{"a": 1}'])
    with pytest.raises(DataError, match="a label set is a JSON list of names, got an object"):
        LabelSet.from_file(bad)


# --- features -----------------------------------------------------------------------------------------------------
def bert_features(tokenizer, a, b, max_seq_length):
    """google-research/electra's featurize: tokenize, truncate (pop from the longer), convert, pad."""
    tokens_a = tokenizer.tokenize(a)
    tokens_b = tokenizer.tokenize(b) if b is not None else None
    if tokens_b is not None:
        while len(tokens_a) + len(tokens_b) > max_seq_length - 3:
            (tokens_a if len(tokens_a) > len(tokens_b) else tokens_b).pop()
    else:
        tokens_a = tokens_a[:max_seq_length - 2]
    tokens = ["[CLS]"] + tokens_a + ["[SEP]"]
    segments = [0] * len(tokens)
    if tokens_b is not None:
        tokens += tokens_b + ["[SEP]"]
        segments += [1] * (len(tokens_b) + 1)
    ids = tokenizer.convert_tokens_to_ids(tokens)
    pad = max_seq_length - len(ids)
    return ids + [0] * pad, [1] * len(ids) + [0] * pad, segments + [0] * pad


def test_truncation_is_longest_first():
    for len_a in range(0, 30):
        for len_b in range(0, 30):
            for max_tokens in (0, 1, 7, 10, 25):
                a, b = list(range(len_a)), list(range(len_b))
                while len(a) + len(b) > max_tokens:
                    (a if len(a) > len(b) else b).pop()
                assert truncated_lengths(len_a, len_b, max_tokens) == (len(a), len(b))


@pytest.mark.parametrize("task, relative, max_seq_length", [
    ("rte", "RTE/train.tsv", 48), ("rte", "RTE/test.tsv", 128), ("cola", "CoLA/train.tsv", 9),
    ("sts-b", "STS-B/train.tsv", 24), ("mnli", "MNLI/train.tsv", 3)])
def test_encode_equals_bert_featurize(tokenizer, task, relative, max_seq_length):
    examples = read_glue(task, str(GLUE / relative))
    spec = GLUE_TASKS[task]
    labels = spec.label_set()
    features = encode(examples, tokenizer, max_seq_length, labels)
    assert set(features) == {"input_ids", "input_mask", "segment_ids", "labels"}
    for key in ("input_ids", "input_mask", "segment_ids"):
        assert features[key].shape == (len(examples), max_seq_length) and features[key].dtype == np.int32
    truncated = 0
    for i, example in enumerate(examples):
        ids, mask, segments = bert_features(tokenizer, example.text_a, example.text_b, max_seq_length)
        assert features["input_ids"][i].tolist() == ids
        assert features["input_mask"][i].tolist() == mask
        assert features["segment_ids"][i].tolist() == segments
        truncated += mask[-1]
    assert truncated > 0          # every case here truncates some examples
    if spec.regression:
        assert features["labels"].dtype == np.float32
        np.testing.assert_array_equal(features["labels"], np.array([e.label for e in examples], np.float32))
    else:
        assert features["labels"].dtype == np.int32 and features["labels"].shape == (len(examples),)
        expected = [-1 if e.label is None else spec.labels.index(e.label) for e in examples]
        assert features["labels"].tolist() == expected


def test_encode_pair_layout(tokenizer):
    example = read_glue("rte", str(GLUE / "RTE/train.tsv"))[0]   # "No Weapons ... Yet." / "Weapons ... Iraq."
    features = encode([example], tokenizer, 32, LabelSet(GLUE_TASKS["rte"].labels))
    ids = features["input_ids"][0]
    tokens = tokenizer.convert_ids_to_tokens(ids[features["input_mask"][0] == 1])
    assert tokens == ["[CLS]", "no", "weapons", "of", "mass", "destruction", "found", "in", "iraq", "yet", ".", "[SEP]",
                      "weapons", "of", "mass", "destruction", "found", "in", "iraq", ".", "[SEP]"]
    assert features["segment_ids"][0].tolist() == [0] * 12 + [1] * 9 + [0] * 11
    assert features["labels"].tolist() == [1]


def test_encode_unlabeled_and_errors(tokenizer):
    test = read_glue("sts-b", str(GLUE / "STS-B/test.tsv"))
    assert np.isnan(encode(test, tokenizer, 16, None)["labels"]).all()
    test = read_glue("sst-2", str(GLUE / "SST-2/test.tsv"))
    assert encode(test, tokenizer, 16, LabelSet(("0", "1")))["labels"].tolist() == [-1] * 10
    train = read_glue("sst-2", str(GLUE / "SST-2/train.tsv"))
    with pytest.raises(ValueError, match=r"train.tsv:2: label '0' is a class name; encode classification examples "
                                         r"with their LabelSet"):
        encode(train, tokenizer, 16, None, path="train.tsv")
    with pytest.raises(DataError, match=r"^dev.tsv:2: column 'label': '0' is not one of the labels \['1'\]"):
        encode(train, tokenizer, 16, LabelSet(("1",)), path="dev.tsv")
    with pytest.raises(ValueError, match="max_seq_length=2 leaves no room"):
        encode(read_glue("rte", str(GLUE / "RTE/test.tsv")), tokenizer, 2, None)
    empty = encode([], tokenizer, 8, LabelSet(("0", "1")))
    assert empty["input_ids"].shape == (0, 8) and empty["labels"].shape == (0,)
    shortest = encode(train[:1], tokenizer, 2, LabelSet(("0", "1")))
    assert shortest["input_ids"].tolist() == [[tokenizer.cls_id, tokenizer.sep_id]]
