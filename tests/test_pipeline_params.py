"""params.yaml's values are checked before DVC parses them: one line naming the key, not a parser's message."""

import subprocess

import pytest
import yaml

from alexnet_repro.basics import ConfigError
from alexnet_repro.pipeline_params import check
from conftest import PYTHON, ROOT

PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def test_the_committed_params_pass():
    check(PARAMS)
    assert subprocess.run([PYTHON, "-m", "alexnet_repro.pipeline_params"], cwd=ROOT).returncode == 0


@pytest.mark.parametrize("key, value, named", [
    ("seeds", "0,1", "seeds='0,1'"),  # DVC said "'Value' object is not iterable"
    ("seeds", [0, -1], "seeds="),
    ("seeds", [0, 0, 1], "lists a seed twice"),  # counted seed0 twice in every mean, rc 0
    ("experiments", ["baseline", "no_lrm"], "experiments: no_lrm"),
    ("dataset", "imagenet2012", "dataset='imagenet2012'"),
    ("cifar", {**PARAMS["cifar"], "dataset": "cifar100"}, "cifar.dataset='cifar100'"),
    ("cifar", {**PARAMS["cifar"], "figure1": ["relu"]}, "cifar.figure1"),
    ("cifar", {**PARAMS["cifar"], "lrn": ["layers-conv-local-12pct"]}, "cifar.lrn"),  # a net with no crops' input
    ("cifar", {**PARAMS["cifar"], "lrn": ["layers-80sec"]}, "cifar.lrn"),
])
def test_a_bad_value_is_named(key, value, named):
    with pytest.raises(ConfigError, match=named.replace("[", r"\[")):
        check({**PARAMS, key: value})
