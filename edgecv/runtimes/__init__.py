"""Runtimes that run exported artifacts: one ``Session`` interface, one small module per runtime."""

from .base import Session, TensorInfo, open_session, predictor

__all__ = ["Session", "TensorInfo", "open_session", "predictor"]
