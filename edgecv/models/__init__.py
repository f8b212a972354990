"""The PyTorch model zoo: architectures, cards and the registry."""

from .api import build_model, create_model, get_card, list_models, load_checkpoint
from .card import ModelCard, Reference
from .registry import register_model

__all__ = ["ModelCard", "Reference", "build_model", "create_model", "get_card", "list_models", "load_checkpoint",
           "register_model"]
