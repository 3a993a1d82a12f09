"""Everything that reads data: embedded and standard datasets, subset builders, point clouds.

The rest of semscale takes arrays; only this package touches dataset files.
"""
from .builders import (TABLE7_COUNTS, class_subset, long_tailed_counts, long_tailed_indices, nested_subsets,
                       subset_with_counts)
from .datasets import (DATASETS, DatasetNotFound, ImageDataset, load_dataset, load_features_file,
                       load_image_folder)
from .pointclouds import POINT_CLOUDS, load_point_cloud

__all__ = [
    "TABLE7_COUNTS", "class_subset", "long_tailed_counts", "long_tailed_indices", "nested_subsets",
    "subset_with_counts", "DATASETS", "DatasetNotFound", "ImageDataset", "load_dataset", "load_features_file",
    "load_image_folder", "POINT_CLOUDS", "load_point_cloud",
]
