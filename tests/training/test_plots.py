"""The loss-curve PNG drawn from a run's train_log.jsonl."""
import json
import struct

import pytest

from electra.training.plots import plot_loss_curves

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _log(path, steps=(20, 40, 60, 80), evals=(0, 40, 80)):
    records = [{"type": "train", "step": s, "loss": 40.0 - s / 4, "task": "pretraining",
                "metrics": {"mlm_loss": 8.0 - s / 100, "disc_loss": 0.6 - s / 1000, "disc_accuracy": 0.85}}
               for s in steps]
    records += [{"type": "eval", "step": s, "task": "pretraining",
                 "metrics": {"loss": 41.0 - s / 4, "mlm_loss": 8.1 - s / 100, "disc_loss": 0.62 - s / 1000,
                             "disc_auc": 0.5 + s / 400, "gen_accuracy": s / 1000}} for s in evals]
    records.append({"type": "event", "step": 80, "event": "best_model", "message": "x"})
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + '{"type": "train", "st', encoding="utf-8")
    return path


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR" and data.rstrip().endswith(b"IEND\xaeB`\x82")
    return struct.unpack(">II", data[16:24]), len(data)


def test_loss_curves_png_from_a_run_directory(tmp_path):
    _log(tmp_path / "train_log.jsonl")               # ends with a line cut short by a kill: skipped
    path = plot_loss_curves(str(tmp_path))
    assert path == str(tmp_path / "loss_curves.png")
    (width, height), size = _png_size(tmp_path / "loss_curves.png")
    assert width >= 1000 and height >= 600 and size > 20_000           # four panels with lines and points
    other = plot_loss_curves(str(tmp_path / "train_log.jsonl"), str(tmp_path / "plots" / "curves.png"),
                             title="a title")
    assert _png_size(tmp_path / "plots" / "curves.png")[1] > 20_000 and other.endswith("curves.png")
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_fine_tuning_log_without_eval_still_plots(tmp_path):
    path = tmp_path / "train_log.jsonl"
    path.write_text("".join(json.dumps({"type": "train", "step": s, "loss": 5.0 - s / 10, "metrics":
                                        {"span_loss": 4.0 - s / 10}}) + "\n" for s in range(1, 6)))
    plot_loss_curves(str(tmp_path), str(tmp_path / "out.png"))
    assert _png_size(tmp_path / "out.png")[1] > 5_000


def test_missing_or_empty_log_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no training log at .*train_log.jsonl"):
        plot_loss_curves(str(tmp_path))
    (tmp_path / "train_log.jsonl").write_text("not json\n" + json.dumps({"type": "event", "step": 0}) + "\n")
    with pytest.raises(ValueError, match=r"has no train record with a loss \(1 readable record"):
        plot_loss_curves(str(tmp_path))
    assert not (tmp_path / "loss_curves.png").exists()
