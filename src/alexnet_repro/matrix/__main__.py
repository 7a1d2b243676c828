"""`python -m alexnet_repro.matrix`: the same as `alexnet-matrix`."""

from alexnet_repro.matrix.cli import cli

cli()
