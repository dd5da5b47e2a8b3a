"""Train a per-style network.

    python -m tfstyle.fast.train --style painting.jpg --content_dir photos/ --model_dir runs/starry

Flags and defaults come from `FastTrainConfig` (`--helpfull` lists them). Rerunning the same command
resumes from the latest checkpoint in `--model_dir`; `--max_steps` is a global step count, so it holds
across resumes. The run is the training core's (`tfstyle.training`): checkpoints, exact resume,
SIGINT/SIGTERM, the NaN stop and TensorBoard logs in `<model_dir>/logs`.

Exit codes: 0 done, or stopped by SIGTERM after saving a checkpoint; 130 stopped by SIGINT / Ctrl-C after
saving a checkpoint; 2 bad input (one `error:` line); 3 a loss became NaN/Inf (the last good checkpoint is
kept); 1 any other TensorFlow error.
"""

from __future__ import annotations

import logging

from absl import flags

from tfstyle import cli, distribute
from tfstyle.fast.config import FastTrainConfig

FLAGS = flags.FLAGS
cli.define_flags(FastTrainConfig)
flags.DEFINE_bool("verbose", False, "debug logging")

logger = logging.getLogger("tfstyle.fast.train")


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise cli.UserError(f"unexpected arguments: {' '.join(argv[1:])}")
    cli.setup_logging(FLAGS.verbose)
    config = cli.config_from_flags(FastTrainConfig).validate()
    config.check_files()  # before TensorFlow is imported: a bad path is the only line printed
    from tfstyle.fast import task  # imports TensorFlow, after tfstyle.cli has set its log environment
    from tfstyle.training.progress import run_from_cli

    strategy = distribute.make_strategy(config.strategy)
    logger.info("strategy %s; global batch %d", distribute.describe(strategy), config.batch_size)
    return run_from_cli(lambda callback: task.train(config, strategy=strategy, callback=callback),
                        lambda info: {name: info.losses[name] for name in ("total", "content", "style")})


run = cli.main_wrapper(main)

if __name__ == "__main__":
    run()
