"""Train a pix2pix model on paired images.

    python -m tfstyle.pix2pix.train --aligned facades/train --direction BtoA --model_dir runs/facades
    python -m tfstyle.pix2pix.train --domain_a edges/ --domain_b photos/ --model_dir runs/edges2photos

Flags and defaults come from `Pix2PixConfig` (`--helpfull` lists them; the reference's names, `--netG`,
`--n_layers_D`, `--crop_size`, `--lr`, `--n_epochs`, `--lambda_L1`, ..., work too). Rerunning the same
command resumes from the latest checkpoint in `--model_dir`; `--max_steps` counts across resumes. The run
folder is read by `python -m tfstyle.pix2pix.translate` / `export` (the same commands as CycleGAN's), the
video command (`--engine cyclegan`) and the app.

Exit codes: as `tfstyle.cyclegan.train` (0 done or stopped by SIGTERM after a checkpoint, 130 Ctrl-C after
a checkpoint, 2 bad input with one `error:` line, 3 a loss became NaN/Inf, 1 any other TensorFlow error).
"""

from __future__ import annotations

import logging

from absl import flags

from tfstyle import cli, distribute
from tfstyle.pix2pix.config import CYCLEGAN_ONLY, Pix2PixConfig

FLAGS = flags.FLAGS
cli.define_flags(Pix2PixConfig, skip=CYCLEGAN_ONLY)
flags.DEFINE_bool("verbose", False, "debug logging")

logger = logging.getLogger("tfstyle.pix2pix.train")


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise cli.UserError(f"unexpected arguments: {' '.join(argv[1:])}")
    cli.setup_logging(FLAGS.verbose)
    config = cli.config_from_flags(Pix2PixConfig)
    config.validate()  # before TensorFlow is imported: a bad flag fails at once
    from tfstyle.pix2pix import trainer  # imports TensorFlow, after tfstyle.cli has set its log environment

    trainer.data_sources(config)  # a bad folder or file is the only line printed, before any strategy
    from tfstyle.training.progress import run_from_cli

    strategy = distribute.make_strategy(config.strategy)
    logger.info("strategy %s; global batch %d", distribute.describe(strategy), config.batch_size)
    return run_from_cli(lambda callback: trainer.train(config, strategy=strategy, callback=callback),
                        lambda info: {"G": info.losses["generator"], "D": info.losses["d"], "L1": info.losses["l1"]})


run = cli.main_wrapper(main)

if __name__ == "__main__":
    run()
