"""Translate images with a trained pix2pix generator: `tfstyle.cyclegan.translate`, which reads pix2pix runs.

    python -m tfstyle.pix2pix.translate --model_dir runs/edges2photos --input edges/ --output photos/
"""

from tfstyle.cyclegan.translate import main, run  # noqa: F401 - one command serves both kinds of run

if __name__ == "__main__":
    run()
