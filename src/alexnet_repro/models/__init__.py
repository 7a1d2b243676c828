"""Plain PyTorch: the paper's net and its LRN layer. Imports nothing from the rest of the application.
This package's own namespace holds the torch-free description (models/spec.py), so that importing a config
schema loads no torch; the net is `alexnet_repro.models.alexnet.AlexNet` (factory: `.alexnet(num_classes, ...)`)
and the layer `alexnet_repro.models.lrn.TowerLRN`. The paper's CIFAR-10 nets (cuda-convnet's layer files) are models
of their own: described in models/convnet4_spec.py, built by `alexnet_repro.models.convnet4.convnet4`."""

from alexnet_repro.models.convnet4_spec import LAYER_FILES, ConvNet4Config
from alexnet_repro.models.spec import AlexNetConfig, LRNConfig, feature_map_sizes

__all__ = ["AlexNetConfig", "ConvNet4Config", "LAYER_FILES", "LRNConfig", "feature_map_sizes"]
