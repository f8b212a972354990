"""Training and fine-tuning (``edgecv train``)."""

from .trainer import TrainConfig, train

__all__ = ["TrainConfig", "train"]
