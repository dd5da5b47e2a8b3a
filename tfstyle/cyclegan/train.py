"""Train a CycleGAN: `python -m tfstyle.cyclegan.train --domain_a A/ --domain_b B/ --model_dir runs/x`.

Flags and defaults come from `TrainConfig` (`--helpfull` lists them). Rerunning the same command
resumes from the latest checkpoint in `--model_dir`. `--max_steps` is a global step count, so it
also holds across resumes.

Exit codes: 0 done, or stopped by SIGTERM after saving a checkpoint (a scheduler's polite stop:
the run is resumable, nothing failed); 130 stopped by SIGINT / Ctrl-C after saving a checkpoint
(the shell convention, so a script chaining commands stops too); 2 bad input (one `error:` line);
3 a loss became NaN/Inf (the last good checkpoint is kept); 1 any other TensorFlow error.
"""

from __future__ import annotations

import logging

from absl import flags

from tfstyle import cli, distribute
from tfstyle.cyclegan.config import TrainConfig

FLAGS = flags.FLAGS
cli.define_flags(TrainConfig)
flags.DEFINE_bool("verbose", False, "debug logging")

logger = logging.getLogger("tfstyle.cyclegan.train")


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise cli.UserError(f"unexpected arguments: {' '.join(argv[1:])}")
    cli.setup_logging(FLAGS.verbose)
    config = cli.config_from_flags(TrainConfig)
    config.validate()  # flags and config are checked before TensorFlow is imported (a bad flag fails at once)
    from tfstyle import images

    for flag in ("domain_a", "domain_b"):  # cheap checks first, so a bad folder is the only line printed
        if getattr(config, flag):
            try:
                images.list_images(getattr(config, flag))
            except (FileNotFoundError, ValueError) as error:
                raise cli.UserError(f"--{flag}: {error}") from None
    from tfstyle.cyclegan import trainer  # imports TensorFlow, after tfstyle.cli has set its log environment
    from tfstyle.training.progress import run_from_cli

    # MultiWorkerMirroredStrategy must exist before any other TensorFlow work in the process.
    strategy = distribute.make_strategy(config.strategy)
    logger.info("strategy %s; global batch %d", distribute.describe(strategy), config.batch_size)
    return run_from_cli(lambda callback: trainer.train(config, strategy=strategy, callback=callback),
                        lambda info: {"G": info.losses["generator"], "D": info.losses["d_a"] + info.losses["d_b"],
                                      "cycle": info.losses["cycle_aba"]})


run = cli.main_wrapper(main)

if __name__ == "__main__":
    run()
