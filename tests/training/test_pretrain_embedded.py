"""The command with only an output dir: the tiny model learns on the embedded default corpus."""
import numpy as np
import pytest

from tests.training.conftest import read_log, run_script

pytestmark = pytest.mark.slow


def test_tiny_model_learns_on_the_embedded_default(tmp_path):
    output = str(tmp_path / "run")
    run_script([f"--output_dir={output}", "--trainer.total_steps=120", "--optimizer.warmup_steps=10",
                "--train_batch_size=16", "--log_freq=1", "--trainer.eval_every=120", "--trainer.eval_steps=4",
                "--xla=false",
                "--trainer.eval_at_start"])
    log = read_log(output)
    train = [r for r in log if "loss" in r]
    assert [r["step"] for r in train] == list(range(1, 121))
    first, last = train[:10], train[-10:]
    mean = lambda rows, key: float(np.mean([r[key] for r in rows]))  # noqa: E731
    assert mean(last, "loss") < 0.75 * mean(first, "loss")
    assert mean(last, "mlm_loss") < mean(first, "mlm_loss")
    assert mean(last, "disc_accuracy") > mean(first, "disc_accuracy")
    validation = [r for r in log if "validation_loss" in r]
    assert [r["step"] for r in validation] == [0, 120]
    untrained, trained = validation
    assert np.isfinite(trained["validation_loss"]) and trained["validation_loss"] < 0.75 * untrained["validation_loss"]
    # held out: the discriminator ranks replaced tokens above original ones (ROC-AUC, not precision at logit 0: an
    # early discriminator predicts "original" everywhere, so its precision and recall at 0 say nothing yet), and the
    # generator predicts masked tokens it could not before
    assert untrained["validation_disc_auc"] < 0.6 < trained["validation_disc_auc"]
    assert trained["validation_gen_accuracy"] > untrained["validation_gen_accuracy"] + 0.02
