"""Methods by name: `build_method(name, feature_dim, num_classes, class_counts, **options)`.

Each entry is a `Method` subclass; options go to its constructor (its docstring lists them and their defaults).
"""
from __future__ import annotations

import inspect

from .base import Method
from .bbn import BBN
from .blsoftmax import BLSoftmax
from .decoupled import CRT, LWS
from .dive import DiVE
from .ifl import IFL
from .mbj import MBJ
from .paco import PaCo
from .ride import RIDE
from .tde import TDE

METHODS: dict[str, type[Method]] = {
    "ce": Method,
    "paco": PaCo,
    "ride": RIDE,
    "bbn": BBN,
    "mbj": MBJ,
    "dive": DiVE,
    "ifl": IFL,
    "crt": CRT,
    "lws": LWS,
    "tde": TDE,
    "blsoftmax": BLSoftmax,
}


def build_method(name: str, feature_dim: int, num_classes: int, class_counts=None, **options) -> Method:
    key = name.lower()
    if key not in METHODS:
        raise ValueError(f"method {name!r}: expected one of {sorted(METHODS)}")
    cls = METHODS[key]
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "feature_dim", "num_classes",
                                                                  "class_counts"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ValueError(f"method {name!r}: unknown option(s) {unknown}; it accepts {sorted(accepted) or 'none'}")
    return cls(feature_dim, num_classes, class_counts, **options)
