"""semscale: semantic scales of classes and the dynamic semantic-scale-balanced loss (Ma et al., ICLR 2023).

The public names are loaded on first use (PEP 562 module __getattr__): `import semscale` and `semscale --help` stay
free of torch, which `measure` needs through the sample space.
"""
import sys
from importlib import import_module
from types import ModuleType

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "ScaleTable": "measure", "measure": "measure", "measure_dataset": "measure", "table_from_moments": "measure",
    "ClassMoments": "moments",
    "SemanticScales": "scales", "effective_number": "scales", "interference": "scales", "semantic_scales": "scales",
    "split_by_count": "scales", "split_by_scale": "scales",
    "class_volumes": "volume", "volume": "volume",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'semscale' has no attribute {name!r}")
    module = import_module(f".{_EXPORTS[name]}", __name__)
    # `measure` is both a submodule and a function: the function wins, as it did before the lazy loading.
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + __all__)


class _Package(ModuleType):
    """Importing the submodule semscale.measure sets the package attribute `measure` to that module; keep the
    function there instead, as the eager `from .measure import measure` did."""

    def __setattr__(self, name, value):
        if isinstance(value, ModuleType) and _EXPORTS.get(name) == name:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
