"""The train matrix over every device, then `dvc repro`: `alexnet-matrix` (`make matrix`, and `make run`).

`dvc repro` runs the train@<experiment>-<seed> and the CIFAR nets' stages one after another. This
command runs them side by side, then hands over to `dvc repro`, whose train stages find each finished run and
adopt it ("up to date", training/run.py) before evaluating and reporting:

  1. the stages the trainings read (resize, pca) are brought up to date: `dvc repro resize pca`;
  2. the training stages that `dvc status` reports changed run, each with the exact command DVC resolved from
     dvc.yaml (DVC's own API expands the matrix), either
       here: N at a time, each on its own GPUs (CUDA_VISIBLE_DEVICES slots of the size the trainer preset asks
             for, `trainer.devices`), its output in logs/matrix/<stage>.log, a line per finished job; on a
             machine without GPUs, one slot per core (per `trainer.cpu_threads` cores), each slot a worker
             process that runs its jobs inside itself (stage_worker.py: torch and Lightning load once per
             worker, not once per stage), and the evaluations of the experiments trained here too, each once
             its trainings have finished (evaluate adopts them in its turn, evaluation/inputs.py); or
       --slurm: through submitit, with conf/hydra/launcher/slurm.yaml's settings (the ones `python src/train.py -m
             hydra/launcher=slurm` uses): the stages of one size as one job array (at most `array_parallelism`
             tasks at once), each task sized by its trainer preset; the training runs inside the task, so a
             preempted task saves and is requeued (docs/faults.md, rows 13c);
  3. `dvc repro` (unless --no-repro or a job failed); under --slurm, a job of its own that SLURM starts once
     every array has succeeded (afterok), and the command exits as soon as everything is submitted.
Two jobs never share a run folder: each stage has its own, and training/lock.py stops a second training of one.
"""

