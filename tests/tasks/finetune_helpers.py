"""Settings and files the fine-tuning task tests share: tiny models on the real excerpts in tests/fixtures."""
import os
import pathlib

from electra import cli
from electra.configs import FinetuneConfig

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"
VOCAB = FIXTURES / "vocab" / "bert-uncased-vocab.txt"
GLUE = FIXTURES / "glue"
TAGGING = FIXTURES / "tagging"
LEARNING = FIXTURES / "learning"


def finetune_config(output_dir, **values) -> FinetuneConfig:
    """A tiny, fast run: 3 steps of batch 8 at seq 48 unless ``values`` say otherwise (dotted or plain names)."""
    settings = {"output_dir": str(output_dir), "data.vocab_file": str(VOCAB), "model.size": "tiny",
                "data.max_seq_length": 48, "data.train_batch_size": 8, "trainer.total_steps": 3,
                "trainer.checkpoint_every": 3, "trainer.log_every": 1, "trainer.xla": False,
                "optimizer.learning_rate": 3e-4}
    settings.update(values)
    return cli.build(FinetuneConfig, settings)


def split_rows(source: pathlib.Path, directory: pathlib.Path, first: int, names=("train", "held_out"),
               header: bool = True) -> list[str]:
    """``source``'s first ``first`` data rows as ``<names[0]>.<ext>`` and the rest as ``<names[1]>.<ext>`` (the
    header, if any, on both): disjoint real rows for a held-out check."""
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    head, rows = (lines[:1], lines[1:]) if header else ([], lines)
    ext = source.suffix
    paths = []
    for name, part in zip(names, (rows[:first], rows[first:])):
        path = directory / f"{name}{ext}"
        path.write_text("".join(head + part), encoding="utf-8")
        paths.append(str(path))
    return paths


def untouched(output) -> None:
    """Nothing but (at most) the lock: no checkpoint, log or model."""
    assert sorted(os.listdir(output)) in ([], ["run.lock"]), sorted(os.listdir(output))
