"""The two-stack benchmark reads the JSON the benchmarks really write (the stored runs in benchmarks/results) and
compares the stacks round by round."""
import json
import os
import sys

import pytest

from benchmarks import stacks as benchmark_stacks
from benchmarks.common import RESULTS as RUNS, ROOT


def test_extractors_read_each_benchmarks_stored_output():
    with open(os.path.join(RUNS, "pretraining_step_zen4.json")) as f:
        pretraining = benchmark_stacks._pretraining(json.load(f))["pretraining_step"]
    assert pretraining["ours_seconds"] == pytest.approx(2.160132360666618)
    assert pretraining["speedup_over_peer"] == pytest.approx(1.769693128196472)
    with open(os.path.join(RUNS, "squad_zen4.jsonl")) as f:
        squad = benchmark_stacks._squad([json.loads(line) for line in f])
    assert set(squad) == {"squad_fine_tune", "squad_inference", "squad_fine_tune_bf16", "squad_inference_bf16"}
    assert squad["squad_fine_tune"]["speedup_over_peer"] == pytest.approx(1.3784586173899542)
    assert squad["squad_inference"]["matmul_bound_over_peer"] == pytest.approx(1.478626344549398)
    with open(os.path.join(RUNS, "data_prep_zen4.json")) as f:
        data_prep = benchmark_stacks._data_prep(json.load(f))["data_prep"]
    assert data_prep["mb_per_cpu_second"] == pytest.approx(14.31)


def test_summary_takes_medians_per_stack_and_the_round_by_round_ratio():
    row = {"versions": {"tensorflow": "x"}}
    runs = {"old": [{**row, "ours_seconds": s, "speedup_over_peer": 1.0} for s in (2.0, 4.0, 3.0)],
            "new": [{**row, "ours_seconds": s, "speedup_over_peer": 2.0} for s in (1.0, 4.0, 2.4)]}
    summary = benchmark_stacks.summarize(runs, "old", "new")
    assert summary["old"]["ours_seconds"] == 3.0 and summary["new"]["ours_seconds"] == 2.4
    assert summary["b_over_a"] == pytest.approx(0.8)        # rounds: 0.5, 1.0, 0.8
    assert summary["new"]["speedup_over_peer"] == 2.0 and summary["stacks"] == ["old", "new"]


def test_bad_stack_flags_are_refused_before_any_run(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        benchmark_stacks.main(["--stack", f"old={tmp_path}/missing/python@{tmp_path}", "--peer_python=x"])
    assert exit_info.value.code == 2 and "expected NAME=PYTHON@CHECKOUT" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        benchmark_stacks.main(["--stack", f"a={sys.executable}@{ROOT}", "--peer_python=x"])
    assert "exactly twice" in capsys.readouterr().err
