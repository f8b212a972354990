"""The PyTorch model zoo: architectures, cards and the registry."""

from .card import ModelCard, Reference
from .registry import build_model, create_model, get_card, list_models, register_model

__all__ = ["ModelCard", "Reference", "build_model", "create_model", "get_card", "list_models", "register_model"]
