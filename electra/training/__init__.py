"""The one training loop and what it owns: the compiled step (``trainer``), the experiment around it
(``experiment``: cadence, evaluation, checkpoints, logs), optimizers, distribution (Horovod), run directories,
checkpoint extraction and plots. Import the submodules; nothing is re-exported here."""
