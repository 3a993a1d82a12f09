"""semscale: semantic scales of classes and the dynamic semantic-scale-balanced loss (Ma et al., ICLR 2023)."""
__version__ = "0.1.0"

from .measure import ScaleTable, measure, measure_dataset, table_from_moments
from .moments import ClassMoments
from .scales import (SemanticScales, effective_number, interference, semantic_scales, split_by_count,
                     split_by_scale)
from .volume import class_volumes, volume

__all__ = ["ScaleTable", "measure", "measure_dataset", "table_from_moments", "ClassMoments", "SemanticScales",
           "effective_number", "interference", "semantic_scales", "split_by_count", "split_by_scale",
           "class_volumes", "volume"]
