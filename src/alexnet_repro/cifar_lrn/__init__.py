"""Section 3.3's CIFAR-10 claim at its own scale: "a four-layer CNN achieved a 13% test error rate without
normalization and 11% with normalization". The nets are cuda-convnet's layers-conv-local-13pct and -11pct (the
paper's footnote points to them) and our control, 11pct without its two cmrnorm layers (the pair differs in more
than normalisation: docs/paper.md, "The CIFAR-10 nets"), trained as their layer-params files say (per-layer rates,
momentum and weight decay; 24x24 crops and flips) on a fixed schedule, the final net scored once on the test
set: nothing is chosen on the images it is scored on."""
