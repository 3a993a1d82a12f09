"""Everything that reads data: datasets registered by name, subset builders, point clouds.

The rest of semscale takes arrays or LabelledDatasets (base.py); only this package touches dataset files. One
module per dataset family registers its loaders (registry.py); `load_dataset(name, split)` finds them.
"""
from .base import (CorruptImage, DatasetLayoutError, DatasetNotFound, FileImageDataset, LabelledDataset,
                   to_tensor01)
from .builders import (TABLE7_COUNTS, class_subset, long_tailed_counts, long_tailed_indices, nested_subsets,
                       subset_with_counts)
from .datasets import DATASETS, ImageDataset, load_features_file, load_image_folder
from .pointclouds import POINT_CLOUDS, load_point_cloud
from .registry import REGISTRY, dataset_status, load_dataset, register

__all__ = [
    "CorruptImage", "DatasetLayoutError", "DatasetNotFound", "FileImageDataset", "LabelledDataset", "to_tensor01",
    "TABLE7_COUNTS", "class_subset", "long_tailed_counts", "long_tailed_indices", "nested_subsets",
    "subset_with_counts", "DATASETS", "ImageDataset", "load_features_file", "load_image_folder", "POINT_CLOUDS",
    "load_point_cloud", "REGISTRY", "dataset_status", "load_dataset", "register",
]
