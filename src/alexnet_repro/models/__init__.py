"""Plain PyTorch: the paper's net and its LRN layer. Imports nothing from the rest of the application."""

from alexnet_repro.models.alexnet import AlexNet, AlexNetConfig, LRNConfig, alexnet, export_config, feature_map_sizes
from alexnet_repro.models.lrn import TowerLRN

__all__ = ["AlexNet", "AlexNetConfig", "LRNConfig", "TowerLRN", "alexnet", "export_config", "feature_map_sizes"]
