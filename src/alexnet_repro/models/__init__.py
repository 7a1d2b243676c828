from alexnet_repro.models.alexnet import AlexNet, AlexNetSpec, LRNSpec, feature_map_sizes
from alexnet_repro.models.lrn import TowerLRN

__all__ = ["AlexNet", "AlexNetSpec", "LRNSpec", "TowerLRN", "feature_map_sizes"]
