"""Tasks: what is trained and how it is scored. A task builds its model and data, computes the loss and metrics from
the model's outputs and a batch, evaluates, and initializes from a starting point; ``electra.training.experiment``
runs any task with the same loop."""
from electra.tasks.base import Task

__all__ = ["Task"]
