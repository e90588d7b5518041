"""The convergence benchmark's reference: Hugging Face's ELECTRA generator + discriminator trained by a plain
torch loop on the exact batches our run consumes, and the check that both sides apply the same learning rates."""
from __future__ import annotations

import time

import numpy as np

from benchmarks.convergence_metrics import batch_digest, evaluate, log_windows, schedule_lambda, warmup_poly_decay
from benchmarks.convergence_ours import reference_stream


def import_reference() -> tuple[dict | None, str | None]:
    try:
        import torch
        import transformers
    except ImportError as e:           # also what a None entry in sys.modules gives
        return None, f"{type(e).__name__}: {e}"
    return {"torch": torch, "transformers": transformers}, None


class Reference:
    """HF ElectraForMaskedLM + ElectraForPreTraining with shared embeddings, trained by a plain torch loop."""

    def __init__(self, model_config, seed: int, *, learning_rate: float, total_steps: int, warmup_steps: int,
                 poly_power: float, end_learning_rate: float, weight_decay: float, betas: tuple[float, float],
                 epsilon: float, clip_norm: float, gen_weight: float, disc_weight: float, temperature: float):
        import torch
        from transformers import ElectraConfig, ElectraForMaskedLM, ElectraForPreTraining
        from electra.interop.hf import hf_config
        self.torch, self.config = torch, model_config
        self.gen_weight, self.disc_weight, self.temperature, self.clip_norm = gen_weight, disc_weight, temperature, \
            clip_norm
        rows = model_config.embedding_vocab_size
        torch.manual_seed(seed)
        self.discriminator = ElectraForPreTraining(ElectraConfig(**hf_config(
            model_config, "discriminator", "ElectraForPreTraining", rows)))
        self.generator = ElectraForMaskedLM(ElectraConfig(**hf_config(
            model_config, "generator", "ElectraForMaskedLM", rows)))
        # google-research/electra: one embeddings module (tables + LayerNorm), the LM head tied to the word table.
        self.generator.electra.embeddings = self.discriminator.electra.embeddings
        self.generator.generator_lm_head.weight = self.discriminator.electra.embeddings.word_embeddings.weight
        named, seen = [], set()
        for prefix, module in (("discriminator", self.discriminator), ("generator", self.generator)):
            for name, parameter in module.named_parameters():
                if id(parameter) not in seen:
                    seen.add(id(parameter))
                    named.append((f"{prefix}.{name}", parameter))
        self.parameters = [p for _, p in named]
        no_decay = [p for n, p in named if "LayerNorm" in n or n.endswith("bias")]
        decay = [p for n, p in named if not ("LayerNorm" in n or n.endswith("bias"))]
        self.parameter_count = sum(p.numel() for p in self.parameters)
        self.optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                                            {"params": no_decay, "weight_decay": 0.0}],
                                           lr=learning_rate, betas=betas, eps=epsilon)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, schedule_lambda(
            learning_rate, total_steps, warmup_steps, poly_power, end_learning_rate))
        self.sampler = torch.Generator().manual_seed(seed)

    def _tensors(self, batch: dict) -> dict:
        t = self.torch
        return {k: t.tensor(np.asarray(v), dtype=t.float32 if k == "masked_lm_weights" else t.long)
                for k, v in batch.items()}

    def _scatter(self, ids, positions, updates, weights):
        t = self.torch
        hits = t.nn.functional.one_hot(positions, ids.shape[1]) * (weights > 0).long()[..., None]     # [B, P, S]
        written = hits.amax(dim=1)
        return ids * (1 - written) + (hits * updates[..., None]).sum(dim=1)

    def generator_logits(self, b: dict):
        hidden = self.generator.electra(b["input_ids"], attention_mask=b["input_mask"],
                                        token_type_ids=b["segment_ids"]).last_hidden_state
        positions = b["masked_lm_positions"]
        hidden = self.torch.gather(hidden, 1, positions[..., None].expand(-1, -1, hidden.shape[-1]))
        logits = self.generator.generator_lm_head(self.generator.generator_predictions(hidden))
        return logits[..., :self.config.vocab_size]

    def discriminator_logits(self, fake_ids, b: dict):
        return self.discriminator(fake_ids, attention_mask=b["input_mask"], token_type_ids=b["segment_ids"]).logits

    def train_step(self, batch: dict) -> dict:
        t = self.torch
        F = t.nn.functional
        self.generator.train()
        self.discriminator.train()
        b = self._tensors(batch)
        weights = b["masked_lm_weights"].float()
        mask = b["input_mask"].float()
        logits = self.generator_logits(b)                                                           # [B, P, V]
        per_token = F.cross_entropy(logits.transpose(1, 2), b["masked_lm_ids"], reduction="none")
        mlm = (per_token * weights).sum() / (weights.sum() + 1e-6)
        with t.no_grad():
            uniform = t.rand(logits.shape, generator=self.sampler)
            gumbel = -t.log(-t.log(uniform + 1e-9) + 1e-9)
            sampled = (logits.detach().float() / self.temperature + gumbel).argmax(-1)
            original = self._scatter(b["input_ids"], b["masked_lm_positions"], b["masked_lm_ids"], weights)
            fake = self._scatter(b["input_ids"], b["masked_lm_positions"], sampled, weights)
            labels = (fake != original).float() * mask
        disc_logits = self.discriminator_logits(fake, b)
        per_token = F.binary_cross_entropy_with_logits(disc_logits, labels, reduction="none")
        disc = (per_token * mask).sum() / (mask.sum() + 1e-6)
        loss = self.gen_weight * mlm + self.disc_weight * disc
        learning_rate = self.scheduler.get_last_lr()[0]
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = t.nn.utils.clip_grad_norm_(self.parameters, self.clip_norm)
        self.optimizer.step()
        self.scheduler.step()
        return {"loss": loss.item(), "mlm_loss": mlm.item(), "disc_loss": disc.item(),
                "grad_norm": grad_norm.item(), "learning_rate": float(learning_rate)}

    def evaluate(self, batches: list[dict]) -> dict:
        t = self.torch
        self.generator.eval()
        self.discriminator.eval()
        with t.no_grad():
            return evaluate(lambda batch: self.generator_logits(self._tensors(batch)).numpy(),
                            lambda fake, batch: self.discriminator_logits(
                                t.tensor(fake, dtype=t.long), self._tensors(batch)).numpy(),
                            batches, self.temperature)


def check_schedules(config, total_steps: int, torch_module=None) -> dict:
    """Our ``WarmupPolyDecay`` (as ``PretrainingTask.build_optimizer`` builds it) against the plain-Python helper
    and, with torch, against the learning rates a ``LambdaLR`` over ``torch.optim.AdamW`` actually applies, at every
    step of the run; raises ``AssertionError`` on any difference beyond float32 rounding."""
    import tensorflow as tf
    from electra.training.optimization import WarmupPolyDecay
    o = config.optimizer
    warmup = o.warmup_for(total_steps)
    ours = WarmupPolyDecay(o.learning_rate, total_steps, warmup, o.poly_power, o.end_learning_rate)(
        tf.range(total_steps + 1)).numpy().astype(np.float64)
    helper = np.array([warmup_poly_decay(s, o.learning_rate, total_steps, warmup, o.poly_power, o.end_learning_rate)
                       for s in range(total_steps + 1)])
    tolerance = 1e-6 * o.learning_rate
    worst = float(np.max(np.abs(ours - helper)))
    assert worst <= tolerance, f"WarmupPolyDecay and warmup_poly_decay differ by {worst:g}"
    out = {"steps_checked": total_steps + 1, "max_abs_difference_helper": worst, "tolerance": tolerance,
           "warmup_steps": warmup}
    if torch_module is not None:
        t = torch_module
        parameter = t.nn.Parameter(t.zeros(1))
        optimizer = t.optim.AdamW([parameter], lr=o.learning_rate)
        scheduler = t.optim.lr_scheduler.LambdaLR(optimizer, schedule_lambda(
            o.learning_rate, total_steps, warmup, o.poly_power, o.end_learning_rate))
        applied = []
        for _ in range(total_steps):
            applied.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        worst_torch = float(np.max(np.abs(np.array(applied) - ours[:total_steps])))
        assert worst_torch <= tolerance, f"LambdaLR and WarmupPolyDecay differ by {worst_torch:g}"
        out["max_abs_difference_torch_lambdalr"] = worst_torch
    return out


def run_reference(args, seed: int, task, eval_batches: list[dict]) -> dict:
    c = task.config
    o = c.optimizer
    ref = Reference(task.model_config, seed, learning_rate=o.learning_rate, total_steps=args.steps,
                    warmup_steps=o.warmup_for(args.steps), poly_power=o.poly_power,
                    end_learning_rate=o.end_learning_rate, weight_decay=o.weight_decay, betas=(o.beta_1, o.beta_2),
                    epsilon=o.epsilon, clip_norm=o.grad_clip_norm, gen_weight=c.objective.gen_weight,
                    disc_weight=c.objective.disc_weight, temperature=c.objective.temperature)
    stream = reference_stream(task, seed)
    eval_seconds, start = 0.0, time.time()
    tick = time.time()
    curve = {0: ref.evaluate(eval_batches)}
    eval_seconds += time.time() - tick
    digests, steps_log = [], []
    for step in range(1, args.steps + 1):
        batch = next(stream)
        digests.append(batch_digest(batch))
        steps_log.append(ref.train_step(batch))
        if step % args.eval_every == 0 or step == args.steps:
            tick = time.time()
            curve[step] = ref.evaluate(eval_batches)
            eval_seconds += time.time() - tick
    total = time.time() - start
    digests.append(batch_digest(next(stream)))     # the batch a longer run would take next
    return {"curve": curve, "digests": digests, "steps": steps_log, "parameters": int(ref.parameter_count),
            "train_log": log_windows([s["loss"] for s in steps_log], args.log_every),
            "seconds": {"train": total - eval_seconds, "evaluate": eval_seconds,
                        "per_step": (total - eval_seconds) / args.steps}}
