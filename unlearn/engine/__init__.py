from unlearn.engine.trainer import TrainResult, train

__all__ = ["TrainResult", "train"]
