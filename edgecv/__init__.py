"""edgecv: export, run and profile computer-vision models for edge devices."""

from ._version import __version__
from .errors import EdgecvError, MissingDependencyError, UsageError, WeightsError

__all__ = ["__version__", "EdgecvError", "MissingDependencyError", "UsageError", "WeightsError",
           "create_model", "list_models", "get_card", "export", "load", "profile", "ProfileSpec", "score"]


def __getattr__(name: str):
    # The zoo imports torch; keep `import edgecv` (and `edgecv --help`) fast by loading it on first use.
    if name in ("create_model", "list_models", "get_card"):
        from . import models

        return getattr(models, name)
    if name == "export":
        from .exporters.api import export

        return export
    if name == "load":
        from .runtimes import load

        return load
    if name == "profile":
        from .profiler.run import profile

        return profile
    if name == "ProfileSpec":
        from .profiler.spec import ProfileSpec

        return ProfileSpec
    if name == "score":
        from .scoring import score

        return score
    raise AttributeError(f"module 'edgecv' has no attribute {name!r}")
