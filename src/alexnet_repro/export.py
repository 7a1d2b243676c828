"""The exported model, `model.pt`: what evaluation, the notebook or any user needs to run a trained net,
with no Lightning and no training code. A plain dict saved by torch:

  format        EXPORT_FORMAT
  model         AlexNetConfig's fields (num_classes included): AlexNet(AlexNetConfig(**model)) rebuilds it
  state_dict    the net's weights
  classes       the store's class list (wnid, words), in label order
  data_fingerprint  the store it was trained on (data/store.py's fingerprint)
  normalization     transforms.Normalization's fields: mean image, mean RGB (as tensors), mean mode, input scale

Read with torch.load(weights_only=True): a model file is something a user downloads and hands to init_from= or
evaluate, and unpickling anything but tensors and plain containers can run code (PyTorch's default since 2.6).
Format 1 held the normalisation as numpy arrays, which that refuses: such a file is named, never unpickled.
"""

from __future__ import annotations

import pickle
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from alexnet_repro.atomic import atomic_path
from alexnet_repro.models.alexnet import AlexNet, export_config
from alexnet_repro.models.spec import AlexNetConfig
from alexnet_repro.transforms import EvalPreset, Normalization

EXPORT_FORMAT = 2
FILENAME = "model.pt"  # the checkpoint chosen on minival
LAST_FILENAME = "model_last.pt"  # the weights at the end of training


class ExportError(ValueError):
    pass


@dataclass
class ExportedModel:
    net: AlexNet
    preset: EvalPreset
    classes: list[dict]
    data_fingerprint: str
    path: Path


def save_model(path: str | Path, net: AlexNet, classes: list[dict], data_fingerprint: str,
               normalization: Normalization) -> Path:
    payload = {"format": EXPORT_FORMAT, "model": export_config(net),
               "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
               "classes": classes, "data_fingerprint": data_fingerprint,
               "normalization": {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v
                                 for k, v in asdict(normalization).items()}}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load_model(path: str | Path, device: torch.device | str = "cpu") -> ExportedModel:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: train this experiment first")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != EXPORT_FORMAT:
            found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
            raise KeyError(f"format {found!r}, expected {EXPORT_FORMAT}")
        net = AlexNet(AlexNetConfig(**payload["model"]))
        net.load_state_dict(payload["state_dict"])
        norm = Normalization(**{k: v.numpy() if isinstance(v, torch.Tensor) else v
                                for k, v in payload["normalization"].items()})
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ExportError(f"{path} is not a model exported by this project: it holds objects other than tensors "
                          f"and plain containers, which are never unpickled (code could run): {first}") from None
    except (KeyError, RuntimeError, TypeError, AttributeError, ValueError, EOFError) as err:
        raise ExportError(f"{path} is not a model exported by this project ({err})") from None
    preset = EvalPreset(norm, net.spec.input_size)
    return ExportedModel(net.eval().to(device), preset.to(device), payload["classes"], payload["data_fingerprint"],
                         path)
