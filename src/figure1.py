from alexnet_repro.stages.figure1 import cli  # the stage's docstring and code live there

if __name__ == "__main__":
    cli()
