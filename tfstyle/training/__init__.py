"""The training core every tfstyle trainer runs on.

* `task`: what a trainer is (`Task`: models, optimisers, extra state, per-replica step, input pipeline);
* `loop`: `train(task, strategy, callback)`, which runs any task (checkpoints, exact resume, signals,
  preemption, the NaN stop, TensorBoard, progress);
* `rundir`: the run-folder layout and finding the checkpoint to use;
* `progress`: the CLI side of the loop's `StepInfo` (progress bar / log lines).
"""
