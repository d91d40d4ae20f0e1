"""Class paths of models saved before the package had subpackages, kept importable.

Pickles (model.joblib) and skops files (model.skops) name each object by the module it was
defined in. Models saved before the layout of stages into subpackages name
`pipeline.discourse.DiscourseFeatures`, `pipeline.streaming.StreamingPipeline`,
`pipeline.skops_state.ArrayVocabulary` and the like; importing such a name gives the module at
its new place, so those models load unchanged (and no file of the old names is needed).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

# old module -> where its classes live now
MOVED = {
    "pipeline.discourse": "pipeline.features.discourse",
    "pipeline.embeddings": "pipeline.features.embeddings",
    "pipeline.streaming": "pipeline.models.streaming",
    "pipeline.skops_state": "pipeline.artifacts.skops_state",
}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module) -> None:
        pass  # the module at its new place is already executed


def install() -> None:
    """Make the old module names importable (idempotent)."""
    if not any(isinstance(finder, _Alias) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Alias())  # before any finder that could find a stale file of the old name


def current_name(name: str) -> str:
    """A dotted class name with its module at the current place (`pipeline.discourse.X` -> ...)."""
    module, _, attr = name.rpartition(".")
    return f"{MOVED[module]}.{attr}" if module in MOVED else name
