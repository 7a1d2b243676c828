"""What else an ablation changes besides the feature it removes, read from the two runs' model configs.

A confound is a change the paper's comparison did not make (or that only this profile makes): an effect
measured with one is not a test of the paper's number, whatever its interval says."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from alexnet_repro.models.spec import (
    READS_BOTH_TOWERS,
    AlexNetConfig,
    feature_map_sizes,
    last_conv_width,
    layer_widths,
)

MAPS = ("conv1", "pool1", "pool2", "pool5")


@dataclass(frozen=True)
class Note:
    text: str
    confound: bool  # True: the comparison is not the paper's, so no verdict on the paper's claim


def model_spec(model_config: dict) -> AlexNetConfig:
    """An AlexNetConfig from a run's resolved `model` config (keys this code does not know are ignored)."""
    known = {f.name for f in dataclasses.fields(AlexNetConfig)}
    return AlexNetConfig(**{k: v for k, v in model_config.items() if k in known})


def fc6_inputs(spec: AlexNetConfig) -> int:
    return last_conv_width(spec) * feature_map_sizes(spec)["pool5"] ** 2


def feature_maps(spec: AlexNetConfig) -> str:
    sizes = feature_map_sizes(spec)
    return "-".join(str(sizes[m]) for m in MAPS)


def _feature_maps(base: AlexNetConfig, abl: AlexNetConfig) -> list[Note]:
    if fc6_inputs(base) == fc6_inputs(abl) or feature_map_sizes(base) == feature_map_sizes(abl):
        return []
    p, q = feature_map_sizes(abl)["pool5"], feature_map_sizes(base)["pool5"]
    return [Note(f"its feature maps are {feature_maps(abl)} instead of {feature_maps(base)} (conv1, pool1, pool2, "
                 f"pool5): pool5 is {p}x{p} instead of {q}x{q}, so fc6 has {fc6_inputs(abl):,} inputs instead of "
                 f"{fc6_inputs(base):,}. The comparison changes the size of the net, not only the feature.", True)]


def _depth(base: AlexNetConfig, abl: AlexNetConfig) -> list[Note]:
    """Section 7's removals, read from the net's description: what fc6 then reads, and a lost tower exchange. The
    paper's own removal changes the same things, so these are notes, not confounds."""
    out = []
    if feature_map_sizes(base) == feature_map_sizes(abl) and fc6_inputs(base) != fc6_inputs(abl):
        out.append(Note(f"fc6 reads {last_conv_width(abl)} channels instead of {last_conv_width(base)}: "
                        f"{fc6_inputs(abl):,} inputs instead of {fc6_inputs(base):,}.", False))
    lost = [c for c in abl.remove_convs if c in READS_BOTH_TOWERS and c not in base.remove_convs]
    if lost and abl.towers > 1:
        out.append(Note(f"{', '.join(lost)} is where the two towers exchange (it reads both, section 3.5): without "
                        "it the towers meet only at fc6.", False))
    return out


def _lrn_scale(base: AlexNetConfig, abl: AlexNetConfig) -> list[Note]:
    if not (base.lrn.enabled and not base.lrn.constant_gain and not abl.lrn.enabled):
        return []
    gain = base.lrn.k ** -base.lrn.beta
    # Not a confound: the paper's own experiment removed LRN, gain and all; section 3.3 measures the gain's share.
    return [Note(f"removing LRN also removes its gain k^-beta = {gain:.2f} after conv1 and conv2, so the signal scale "
                 "changes as well as the normalisation, as in the paper's experiment (section 3.3 below measures the "
                 "two apart with `lrn_gain`).", False)]


def _widths(base: AlexNetConfig, abl: AlexNetConfig) -> list[Note]:
    if abl.towers == base.towers:
        return []
    bk, ak = layer_widths(base)[0], layer_widths(abl)[0]
    kernels = f"conv kernels {'-'.join(map(str, ak))} against {'-'.join(map(str, bk))}"
    if abl.half_kernels:
        return [Note(f"the paper's one-GPU net was compared: {abl.towers} tower, half the kernels in conv1-conv4, "
                     f"conv5 and the fully connected layers kept ({kernels}).", False)]
    return [Note(f"{abl.towers} tower with the two-tower widths ({kernels}): grouping alone, not the paper's "
                 "one-GPU net, which has half the kernels in conv1-conv4.", True)]


def notes(base_model: dict, abl_model: dict) -> list[Note]:
    """Every difference beyond the ablated feature that the report should print beside its effect."""
    base, abl = model_spec(base_model), model_spec(abl_model)
    return _feature_maps(base, abl) + _depth(base, abl) + _lrn_scale(base, abl) + _widths(base, abl)
