from alexnet_repro.stages.cifar_lrn import cli  # the stage's docstring and code live there

if __name__ == "__main__":
    cli()
