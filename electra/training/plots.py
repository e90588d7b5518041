"""Loss curves of a run as a PNG, from its ``train_log.jsonl`` (beside the TensorBoard directory).

    from electra.training.plots import plot_loss_curves
    path = plot_loss_curves("runs/pretrain")          # writes runs/pretrain/loss_curves.png

Panels: the total loss, then each entry of ``metrics`` whose name ends in ``_loss`` (pretraining: the generator's
MLM loss and the discriminator's replaced-token loss), each as the train records' line with the held-out ``eval``
records as points; for pretraining a last panel has the held-out discriminator ROC-AUC and generator accuracy.
Drawn with matplotlib's Agg canvas (no display, no global backend change).
"""
from __future__ import annotations

import os

from electra.io import atomic_path
from electra.training.logs import read_log

FILE_NAME = "loss_curves.png"
TITLES = {"loss": "total loss", "mlm_loss": "generator (masked-LM) loss", "disc_loss": "discriminator (RTD) loss"}


def plot_loss_curves(run: str, output_path: str | None = None, title: str | None = None) -> str:
    """Draw ``run``'s curves (a run directory or its ``train_log.jsonl``) into ``output_path`` (default
    ``<run directory>/loss_curves.png``); returns the path. ``FileNotFoundError`` when there is no log,
    ``ValueError`` when it has no complete train record."""
    path = os.path.join(run, "train_log.jsonl") if os.path.isdir(run) else run
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no training log at {path}: plot_loss_curves needs a run directory (or its "
                                f"train_log.jsonl) written by run_pretraining / run_squad")
    records = read_log(path)
    train = [r for r in records if r.get("type") == "train" and _number(r.get("loss"))]
    evals = [r for r in records if r.get("type") == "eval" and isinstance(r.get("metrics"), dict)]
    if not train:
        raise ValueError(f"{path} has no train record with a loss ({len(records)} readable record(s)): nothing to "
                         f"plot")
    output_path = output_path or os.path.join(os.path.dirname(os.path.abspath(path)), FILE_NAME)

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = ["loss"] + sorted({k for r in train for k, v in r.get("metrics", {}).items()
                               if k.endswith("_loss") and _number(v)}, key=lambda k: (k != "mlm_loss", k))
    quality = [k for k in ("disc_auc", "gen_accuracy") if any(_number(r["metrics"].get(k)) for r in evals)]
    panels = len(names) + (1 if quality else 0)
    columns = 2 if panels > 1 else 1
    rows = (panels + columns - 1) // columns
    figure = Figure(figsize=(6.0 * columns, 3.6 * rows), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, name in zip(axes, names):
        steps, values = _series(train, name)
        ax.plot(steps, values, color="tab:blue", linewidth=1.5, label="train (mean of each log window)")
        steps, values = _series(evals, name, from_metrics=True)
        if steps:
            ax.plot(steps, values, "o--", color="tab:red", markersize=5, linewidth=1, label="held-out")
        ax.set_title(TITLES.get(name, name.replace("_", " ")))
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    if quality:
        ax = axes[len(names)]
        labels = {"disc_auc": "discriminator ROC-AUC", "gen_accuracy": "generator accuracy"}
        for name, color in zip(quality, ("tab:green", "tab:purple")):
            steps, values = _series(evals, name, from_metrics=True)
            ax.plot(steps, values, "o-", color=color, markersize=5, label=labels[name])
        ax.axhline(0.5, color="gray", linewidth=0.8, linestyle=":", label="AUC of chance")
        ax.set_ylim(0.0, 1.0)
        ax.set_title("held-out quality")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    for ax in axes[panels:]:
        ax.set_visible(False)
    task = next((r.get("task") for r in records if r.get("task")), "run")
    figure.suptitle(title or f"{task}: {os.path.dirname(os.path.abspath(path))}", fontsize="medium")
    with atomic_path(output_path) as temporary:
        figure.savefig(temporary, format="png")
    return output_path


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _series(records: list[dict], name: str, from_metrics: bool = False) -> tuple[list, list]:
    steps, values = [], []
    for record in records:
        value = record.get("metrics", {}).get(name) if (from_metrics or name != "loss") else record.get("loss")
        if _number(value):
            steps.append(record["step"])
            values.append(value)
    return steps, values
