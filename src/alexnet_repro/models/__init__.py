"""Plain PyTorch: the paper's net and its LRN layer. Imports nothing from the rest of the application.
The factory is `alexnet_repro.models.alexnet.alexnet(num_classes, ...)`; it is not re-exported here, so that
`import alexnet_repro.models.alexnet as m` keeps naming the module."""

from alexnet_repro.models.alexnet import AlexNet, AlexNetConfig, LRNConfig, export_config, feature_map_sizes
from alexnet_repro.models.lrn import TowerLRN

__all__ = ["AlexNet", "AlexNetConfig", "LRNConfig", "TowerLRN", "export_config", "feature_map_sizes"]
