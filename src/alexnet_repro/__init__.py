"""alexnet_repro: Krizhevsky, Sutskever & Hinton (2012), reproduced with DVC, Hydra, Lightning and W&B."""
