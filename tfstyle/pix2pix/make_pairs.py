"""Make a paired training set from photos: `python -m tfstyle.pix2pix.make_pairs --task edges|grey --input photos/
--output sets/edges2photos` (see `tfstyle.pix2pix.pairs` for the recipe and the layout written)."""

from __future__ import annotations

from tfstyle import cli, images
from tfstyle.pix2pix.pairs import PairsArgs, make_pairs

cli.define_flags(PairsArgs)


def main(argv: list[str]) -> None:
    del argv
    cli.setup_logging()
    args = cli.config_from_flags(PairsArgs)
    args.validate()
    total = len(images.list_images(args.input))
    with cli.Progress(total, f"pairs {args.task}", unit="img") as progress:
        counts = make_pairs(args, progress)
    print(f"wrote {counts['train']} training and {counts['test']} test pairs to {args.output}")


run = cli.main_wrapper(main)

if __name__ == "__main__":
    run()
