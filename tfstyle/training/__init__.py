"""The training core every tfstyle trainer runs on (see `loop.train`), and the run-folder layout (`rundir`)."""
