"""GLUE submission files: the names, header, index column and prediction formats gluebenchmark.com takes."""
import os
import pathlib

import numpy as np
import pytest

from electra.classification.data import GLUE_TASKS, read_glue
from electra.classification.submission import write_glue_submission

GLUE = pathlib.Path(__file__).parents[1] / "fixtures" / "glue"


def rows(path):
    return [line.split("\t") for line in pathlib.Path(path).read_text(encoding="utf-8").splitlines()]


def test_file_names_are_glues():
    assert sorted(f"{t.title}.tsv" for t in GLUE_TASKS.values()) == sorted(
        ["CoLA.tsv", "SST-2.tsv", "MRPC.tsv", "STS-B.tsv", "QQP.tsv", "MNLI-m.tsv", "MNLI-mm.tsv", "QNLI.tsv",
         "RTE.tsv", "WNLI.tsv", "AX.tsv"])


def test_classification_submission(tmp_path):
    test = read_glue("sst-2", str(GLUE / "SST-2/test.tsv"))
    predictions = np.array([1, 0, 0, 1, 1, 0, 1, 1, 0, 1])
    path = write_glue_submission(str(tmp_path), "sst-2", predictions, [e.guid for e in test])
    assert path == str(tmp_path / "SST-2.tsv")
    assert rows(path) == [["index", "prediction"]] + [[str(i), str(p)] for i, p in enumerate(predictions)]
    assert os.listdir(tmp_path) == ["SST-2.tsv"]          # nothing left beside it by the atomic writer
    qqp = read_glue("qqp", str(GLUE / "QQP/test.tsv"))
    path = write_glue_submission(str(tmp_path), "qqp", ["1"] * 4 + [0] * 4, [e.guid for e in qqp])
    assert [r[1] for r in rows(path)[1:]] == ["1"] * 4 + ["0"] * 4


def test_mnli_and_ax_write_label_names(tmp_path):
    matched = read_glue("mnli", str(GLUE / "MNLI/test_matched.tsv"))
    path = write_glue_submission(str(tmp_path), "mnli", [0, 1, 2, 2, 1, 0], [e.guid for e in matched])
    assert os.path.basename(path) == "MNLI-m.tsv"
    assert rows(path)[1:] == [["0", "contradiction"], ["1", "entailment"], ["2", "neutral"], ["3", "neutral"],
                              ["4", "entailment"], ["5", "contradiction"]]
    mismatched = read_glue("mnli-mm", str(GLUE / "MNLI/test_mismatched.tsv"))
    path = write_glue_submission(str(tmp_path), "mnli-mm", np.int64([1] * 6), [e.guid for e in mismatched])
    assert os.path.basename(path) == "MNLI-mm.tsv" and {r[1] for r in rows(path)[1:]} == {"entailment"}
    ax = read_glue("ax", str(GLUE / "diagnostic/diagnostic.tsv"))
    path = write_glue_submission(str(tmp_path), "ax", ["neutral"] * 8, [e.guid for e in ax])
    assert os.path.basename(path) == "AX.tsv" and rows(path)[8] == ["7", "neutral"]
    rte = read_glue("rte", str(GLUE / "RTE/test.tsv"))
    path = write_glue_submission(str(tmp_path), "rte", [1] * 10, [e.guid for e in rte])
    assert rows(path)[1] == ["0", "not_entailment"]


def test_sts_b_scores_clipped_with_three_decimals(tmp_path):
    test = read_glue("sts-b", str(GLUE / "STS-B/test.tsv"))
    scores = np.array([-0.4, 5.3, 2.34567, 0.0, 5.0, 1.0005, 4.9999, 3, 0.5, 1.25], np.float32)
    path = write_glue_submission(str(tmp_path), "sts-b", scores, [e.guid for e in test])
    assert os.path.basename(path) == "STS-B.tsv"
    assert [r[1] for r in rows(path)[1:]] == ["0.000", "5.000", "2.346", "0.000", "5.000", "1.000", "5.000",
                                              "3.000", "0.500", "1.250"]


def test_refusals(tmp_path):
    guids = [e.guid for e in read_glue("cola", str(GLUE / "CoLA/test.tsv"))]
    with pytest.raises(ValueError, match="9 predictions for 10 test examples of GLUE CoLA"):
        write_glue_submission(str(tmp_path), "cola", [0] * 9, guids)
    with pytest.raises(ValueError, match=r"GLUE CoLA example 3: prediction 2 is not a class index in \[0, 2\)"):
        write_glue_submission(str(tmp_path), "cola", [0, 1, 1, 2] + [0] * 6, guids)
    with pytest.raises(ValueError, match=r"GLUE CoLA example 0: 'yes' is not one of the labels \['0', '1'\]"):
        write_glue_submission(str(tmp_path), "cola", ["yes"] * 10, guids)
    with pytest.raises(ValueError, match=r"GLUE STS-B example 1: prediction nan is not a finite score"):
        write_glue_submission(str(tmp_path), "sts-b", [1.0, float("nan")] + [1.0] * 8, guids)
    assert os.listdir(tmp_path) == []
