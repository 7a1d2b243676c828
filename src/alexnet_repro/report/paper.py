"""The paper's numbers (../shared/PAPER.md), as the report prints them beside ours. Error rates in %."""

TABLE1 = [  # ILSVRC-2010 test set
    ("Sparse coding", 47.1, 28.2),
    ("SIFT + FVs", 45.7, 25.7),
    ("CNN", 37.5, 17.0),
]

TABLE2 = [  # ILSVRC-2012: top-1 (val), top-5 (val), top-5 (test)
    ("SIFT + FVs", None, None, 26.2),
    ("1 CNN", 40.7, 18.2, None),
    ("5 CNNs", 38.1, 16.4, 16.4),
    ("1 CNN*", 39.0, 16.6, None),
    ("7 CNNs*", 36.7, 15.4, 15.3),
]

LATER = [  # single centre crop, ILSVRC-2012 val, converted from accuracy to error
    ("Caffe bvlc_alexnet", 100 - 57.1, 100 - 80.2),
    ("torchvision alexnet", 100 - 56.522, 100 - 79.066),
]

FIGURE1 = (0.25, 6.0)  # section 3.1: tanh needed ~6x the iterations of ReLU to reach 25% training error (CIFAR-10)

# What removing each feature did in the paper: (section, top-1 change, top-5 change, words, direction of the
# effect on error: +1 removing it hurts, None no claim about validation error). Positive = worse.
ABLATIONS = {
    "tanh": ("3.1", None, None, "6x more iterations to 25% training error (CIFAR-10, Figure 1)", None),
    "no_lrn": ("3.3", 1.4, 1.2, "+1.4% top-1, +1.2% top-5", +1),
    # A mechanism check, not in the paper: LRN replaced by its constant gain k^-beta, so lrn_gain - baseline is the
    # normalisation alone. The paper's +1.4 belongs to no_lrn - baseline, the experiment it ran.
    "lrn_gain": ("3.3", None, None, "mechanism check, not in the paper: LRN's constant gain kept, normalisation "
                 "removed", None),
    "no_overlap_pool": ("3.4", 0.4, 0.3, "+0.4% top-1, +0.3% top-5", +1),
    "no_dropout": ("4.2", None, None, "substantial overfitting (no number given)", +1),
    "no_pca_lighting": ("4.1", 1.0, None, "over +1% top-1", +1),
    "one_tower": ("3.2", 1.7, 1.2, "+1.7% top-1, +1.2% top-5", +1),
    # Section 7: "removing any of the middle layers results in a loss of about 2% for the top-1 performance".
    "no_conv3": ("7", 2.0, None, "about +2% top-1", +1),
    "no_conv4": ("7", 2.0, None, "about +2% top-1", +1),
    "no_conv5": ("7", 2.0, None, "about +2% top-1", +1),
}
