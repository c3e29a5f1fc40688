"""The training loop and what it needs: checks before any model loads (before), the training streams
(streams, training_data), one optimiser step (step, forward, batches), regenerated streams (refresh), reference strategies (reference),
LoRA, checkpoints and pickle-free state (checkpoint, state_io), run-folder integrity and info
(integrity, run_info), evaluation during training (during), collective helpers (collective)."""

from unlearn.engine.trainer import TrainResult, train

__all__ = ["TrainResult", "train"]
