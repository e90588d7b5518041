"""Train a few steps on a fixed global batch of 4: in one process, or as 2 Horovod workers with 2 rows each.

  python tests/training/hvd_equivalence.py OUT.npz
  horovodrun -np 2 -H localhost:2 --gloo python tests/training/hvd_equivalence.py OUT.npz --horovod

Sampling runs at a vanishing temperature and dropout is off, so both layouts see the same numbers and must take
the same steps. Writes per-rank weights and losses to ``OUT.npz`` (``OUT.rank<r>.npz`` under Horovod).
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from electra.modeling import ElectraPretrainingModel  # noqa: E402
from electra.tasks.pretraining import METRICS, rtd_objective  # noqa: E402
from electra.training.distribution import make_distributor  # noqa: E402
from electra.training.optimization import WarmupPolyDecay, make_optimizer  # noqa: E402
from electra.training.trainer import Trainer  # noqa: E402
from tests.conftest import masked_batch, tiny_config  # noqa: E402


def global_batch():
    config = tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    batch = masked_batch(config, batch=4, seq=16, predictions=3, seed=5)
    batch.pop("original_ids")
    batch["input_mask"][:] = 1          # equal token and prediction counts per row: per-worker means average exactly
    batch["masked_lm_weights"][:] = 1
    batch["masked_lm_positions"] = np.tile(np.array([[2, 5, 9]], np.int32), (4, 1))
    return config, batch


def main(out_path, horovod):
    distributor = make_distributor(horovod)
    config, batch = global_batch()
    rows = slice(2 * distributor.rank, 2 * distributor.rank + 2) if horovod else slice(0, 4)
    local = {k: v[rows] for k, v in batch.items()}
    keras.utils.set_random_seed(100 + distributor.rank)  # different initial weights per rank: broadcast must fix it
    model = ElectraPretrainingModel(config, temperature=1e-4, seed=0)
    optimizer = make_optimizer("lamb", WarmupPolyDecay(1e-2, 10, 0), model.named_variables())
    trainer = Trainer(model, optimizer, lambda m, b: rtd_objective(m(b, training=True), b, 1.0, 50.0), METRICS,
                      distributor)
    distributor.broadcast_variables(list(model.trainable_variables) + list(optimizer.variables))
    losses = [float(trainer.train_step([local])["global_loss"]) for _ in range(4)]
    weights = {name: v.numpy() for name, v in model.named_variables().items()}
    path = out_path.replace(".npz", f".rank{distributor.rank}.npz") if horovod else out_path
    np.savez(path, losses=np.array(losses), **{"w:" + k: v for k, v in weights.items()})


if __name__ == "__main__":
    main(sys.argv[1], "--horovod" in sys.argv)
