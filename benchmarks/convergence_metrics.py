"""The convergence benchmark's torch-free, TF-free parts: the held-out metrics both sides are scored with, the
learning-rate schedule in plain Python, batch digests, and the statistics of the seed-spread verdict."""
from __future__ import annotations

import hashlib
import math

import numpy as np

from electra.tasks.pretraining import roc_auc  # exact, ties counted 1/2; the one both sides use

METRICS = ("gen_accuracy", "mlm_loss", "disc_loss", "disc_auc", "disc_accuracy", "disc_precision", "disc_recall",
           "baseline_accuracy")
EVAL_SAMPLE_SEED = 20240611       # the Gumbel noise of every held-out evaluation, both sides


def warmup_poly_decay(step: float, peak: float, total_steps: int, warmup_steps: int = 0, power: float = 1.0,
                      end: float = 0.0) -> float:
    """``electra.training.optimization.WarmupPolyDecay`` in plain Python: linear warmup from 0 to ``peak`` over
    ``warmup_steps``, then ``(peak - end) × (1 - progress)^power + end``."""
    step = float(step)
    if step < warmup_steps:
        return peak * step / max(1.0, float(warmup_steps))
    progress = min(max((step - warmup_steps) / max(1.0, float(total_steps - warmup_steps)), 0.0), 1.0)
    return (peak - end) * (1.0 - progress) ** power + end


def sigmoid_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    x = np.asarray(logits, np.float64)
    return np.maximum(x, 0.0) - x * labels + np.log1p(np.exp(-np.abs(x)))


def rtd_eval_metrics(gen_logits: np.ndarray, mlm_ids: np.ndarray, mlm_weights: np.ndarray, disc_logits: np.ndarray,
                     rtd_labels: np.ndarray, input_mask: np.ndarray) -> dict[str, float]:
    """Held-out metrics of a generator + discriminator, pooled over every sequence given (both sides use this).

    ``gen_logits [N, P, V]`` at the masked positions, ``mlm_ids``/``mlm_weights [N, P]`` (weight 0: padding slot),
    ``disc_logits``/``rtd_labels``/``input_mask [N, S]`` (label 1 = replaced). Generator: accuracy and mean
    cross-entropy over the masked positions. Discriminator over the non-pad tokens: mean sigmoid cross-entropy,
    accuracy / precision / recall at logit 0, exact ROC-AUC, and the accuracy of calling every token original.
    """
    weights = np.asarray(mlm_weights, np.float64).ravel()
    vocab = np.shape(gen_logits)[-1]
    rows = np.flatnonzero(weights)                      # padding slots (weight 0) take no part
    logits = np.asarray(gen_logits).reshape(-1, vocab)
    ids = np.asarray(mlm_ids).ravel().astype(np.int64)
    cross_entropy, correct = np.zeros(len(rows)), np.zeros(len(rows))
    for start in range(0, len(rows), 2048):             # float64 in chunks: N × P × V can be large
        chunk = rows[start:start + 2048]
        x = logits[chunk].astype(np.float64)
        x -= x.max(axis=-1, keepdims=True)
        target = x[np.arange(len(chunk)), ids[chunk]]
        cross_entropy[start:start + len(chunk)] = np.log(np.exp(x).sum(axis=-1)) - target
        correct[start:start + len(chunk)] = x.argmax(axis=-1) == ids[chunk]
    weights = weights[rows]
    masked = max(weights.sum(), 1e-12)

    keep = np.asarray(input_mask).ravel() > 0
    scores = np.asarray(disc_logits, np.float64).ravel()[keep]
    labels = (np.asarray(rtd_labels, np.float64).ravel()[keep] > 0.5).astype(np.float64)
    predicted = (scores > 0).astype(np.float64)
    tokens = max(float(keep.sum()), 1e-12)
    true_positive = float((predicted * labels).sum())
    return {"gen_accuracy": float((correct * weights).sum() / masked),
            "mlm_loss": float((cross_entropy * weights).sum() / masked),
            "disc_loss": float(sigmoid_cross_entropy(scores, labels).sum() / tokens),
            "disc_auc": roc_auc(scores, labels),
            "disc_accuracy": float((predicted == labels).sum() / tokens),
            "disc_precision": true_positive / predicted.sum() if predicted.sum() else 0.0,
            "disc_recall": true_positive / labels.sum() if labels.sum() else 0.0,
            "baseline_accuracy": float(1.0 - labels.sum() / tokens),
            "replaced_fraction": float(labels.sum() / tokens),
            "masked_positions": int(weights.sum()), "tokens": int(keep.sum())}


def scatter_positions(ids: np.ndarray, positions: np.ndarray, updates: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``ids [B, S]`` with ``updates [B, P]`` written at ``positions`` where ``weights > 0`` (as our model does)."""
    out = np.array(ids, dtype=np.int64, copy=True)
    rows, slots = np.nonzero(np.asarray(weights) > 0)
    out[rows, np.asarray(positions)[rows, slots]] = np.asarray(updates)[rows, slots]
    return out


def gumbel_noise(seed: int, index: int, shape: tuple[int, ...]) -> np.ndarray:
    """Fixed Gumbel noise for held-out batch ``index`` (the same for both sides and every evaluation)."""
    uniform = np.random.default_rng([seed, index]).random(shape, dtype=np.float32)
    return -np.log(-np.log(uniform + 1e-9) + 1e-9)


def evaluate(gen_fn, disc_fn, batches: list[dict], temperature: float = 1.0,
             sample_seed: int = EVAL_SAMPLE_SEED) -> dict[str, float]:
    """Held-out evaluation of one side: ``gen_fn(batch) -> [B, P, V]`` logits at the masked positions (no dropout),
    a Gumbel-max sample with fixed noise, ``disc_fn(fake_ids, batch) -> [B, S]``; metrics by ``rtd_eval_metrics``."""
    parts: dict[str, list] = {k: [] for k in ("gen", "ids", "weights", "disc", "labels", "mask")}
    for index, batch in enumerate(batches):
        logits = np.asarray(gen_fn(batch), np.float32)
        sampled = np.argmax(logits / temperature + gumbel_noise(sample_seed, index, logits.shape), axis=-1)
        positions, weights = batch["masked_lm_positions"], batch["masked_lm_weights"]
        original = scatter_positions(batch["input_ids"], positions, batch["masked_lm_ids"], weights)
        fake = scatter_positions(batch["input_ids"], positions, sampled, weights)
        labels = (fake != original).astype(np.float32) * batch["input_mask"]
        for key, value in (("gen", logits), ("ids", batch["masked_lm_ids"]), ("weights", batch["masked_lm_weights"]),
                           ("disc", np.asarray(disc_fn(fake, batch), np.float32)), ("labels", labels),
                           ("mask", batch["input_mask"])):
            parts[key].append(np.asarray(value))
    joined = {k: np.concatenate(v) for k, v in parts.items()}
    return rtd_eval_metrics(joined["gen"], joined["ids"], joined["weights"], joined["disc"], joined["labels"],
                            joined["mask"])


def batch_digest(batch: dict) -> str:
    """sha256 of a masked batch (every feature, sorted by name, as int32/float32 bytes)."""
    h = hashlib.sha256()
    for key in sorted(batch):
        value = np.asarray(batch[key])
        value = value.astype(np.float32 if value.dtype.kind == "f" else np.int32)
        h.update(key.encode() + str(value.shape).encode() + value.tobytes())
    return h.hexdigest()


def spread(values) -> dict:
    values = np.asarray([v for v in values if v is not None and not math.isnan(v)], np.float64)
    if not len(values):
        return {"mean": None, "min": None, "max": None, "std": None, "n": 0}
    return {"mean": float(values.mean()), "min": float(values.min()), "max": float(values.max()),
            "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0, "n": int(len(values))}


# Two-sided 95% critical values of Student's t by degrees of freedom (Welch's dof rounded down: conservative).
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


def compare(ours: list[float], reference: list[float]) -> dict:
    """Is ours' seed mean within the reference's seed range, and within its mean ± 2 sample std? Also Welch's t of
    the difference of means (which counts ours' own seed spread too) and the ratio of the spreads."""
    o, r = spread(ours), spread(reference)
    if o["n"] == 0 or r["n"] == 0:
        return {"ours": o, "reference": r, "within_reference_range": None, "within_reference_2std": None}
    out = {"ours": o, "reference": r, "difference_of_means": o["mean"] - r["mean"],
           "within_reference_range": bool(r["min"] <= o["mean"] <= r["max"]),
           "within_reference_2std": bool(abs(o["mean"] - r["mean"]) <= 2.0 * r["std"])}
    if o["n"] > 1 and r["n"] > 1:
        vo, vr = o["std"] ** 2 / o["n"], r["std"] ** 2 / r["n"]
        if vo + vr > 0:
            t = out["difference_of_means"] / math.sqrt(vo + vr)
            dof = (vo + vr) ** 2 / ((vo ** 2 / (o["n"] - 1) if vo else 0.0) + (vr ** 2 / (r["n"] - 1) if vr else 0.0))
            critical = T_975.get(max(1, int(dof)), 1.96 if dof > 30 else 2.2)
            out.update(welch_t=t, welch_dof=dof, welch_significant_95=bool(abs(t) > critical))
        out["spread_ratio"] = o["std"] / r["std"] if r["std"] > 0 else None
    return out


def null_calibration(n_ours: int, n_reference: int, trials: int = 200_000, seed: int = 0) -> dict:
    """What the two checks can show with these seed counts, by simulation with normal seed-to-seed noise of std σ:
    how often they pass when both loops are the same distribution (1 - false alarm rate), and how often they fail
    (detect) when ours' true mean is shifted by k·σ."""
    rng = np.random.default_rng(seed)
    out = {}
    for shift in (0.0, 1.0, 2.0, 3.0, 4.0):
        ref = rng.standard_normal((trials, n_reference))
        ours = rng.standard_normal((trials, n_ours)).mean(axis=1) + shift
        in_range = (ours >= ref.min(axis=1)) & (ours <= ref.max(axis=1))
        std = ref.std(axis=1, ddof=1) if n_reference > 1 else np.zeros(trials)
        in_2std = np.abs(ours - ref.mean(axis=1)) <= 2 * std
        out[f"shift_{shift:g}_sigma"] = {"p_within_range": float(in_range.mean()),
                                         "p_within_2std": float(in_2std.mean())}
        if n_ours > 1 and n_reference > 1:
            ours_runs = rng.standard_normal((trials, n_ours)) + shift
            vo, vr = ours_runs.var(axis=1, ddof=1) / n_ours, ref.var(axis=1, ddof=1) / n_reference
            t = (ours_runs.mean(axis=1) - ref.mean(axis=1)) / np.sqrt(vo + vr)
            dof = (vo + vr) ** 2 / (vo ** 2 / (n_ours - 1) + vr ** 2 / (n_reference - 1))
            critical = np.array([T_975.get(max(1, int(d)), 1.96 if d > 30 else 2.2) for d in dof])
            out[f"shift_{shift:g}_sigma"]["p_welch_significant_95"] = float((np.abs(t) > critical).mean())
    return out


def log_windows(losses: list[float], log_every: int) -> list[dict]:
    """The training loop's log windows (``step % log_every == 0`` or the last step) over per-step losses."""
    windows, start = [], 0
    for step in range(1, len(losses) + 1):
        if step % log_every == 0 or step == len(losses):
            windows.append({"step": step, "loss": float(np.mean(losses[start:step]))})
            start = step
    return windows


def schedule_lambda(peak: float, total_steps: int, warmup_steps: int, power: float, end: float):
    return lambda step: warmup_poly_decay(step, peak, total_steps, warmup_steps, power, end) / peak
