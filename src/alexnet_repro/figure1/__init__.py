"""Figure 1 (section 3.1) at its own scale: cuda-convnet's four-layer net (layers-80sec) with ReLUs and with tanh on
CIFAR-10-shaped data, no regularisation of any kind, each activation at the learning rate that trains it fastest,
chosen on pilot seeds that the reported seeds do not include, by the figure's own quantity (steps to the level)."""
