"""The long-tailed methods of Tables 2 and 11 (PaCo, RIDE, BBN, MBJ, DiVE, IFL, cRT, LWS, TDE, BLSoftmax), one
module each, all speaking the `Method` interface of base.py so that the engine trains any of them, and DSB-X is
X's per-sample terms times the DSB class weights. `build_method` (registry.py) makes one by name."""
from .base import Method, MethodOutput
from .registry import METHODS, build_method

__all__ = ["Method", "MethodOutput", "METHODS", "build_method"]
