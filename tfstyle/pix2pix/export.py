"""Export a trained pix2pix generator: `tfstyle.cyclegan.export`, which reads pix2pix runs.

    python -m tfstyle.pix2pix.export --model_dir runs/edges2photos --export_dir saved_models/edges2photos \\
        [--format savedmodel|litert|onnx]
"""

from tfstyle.cyclegan.export import main, run  # noqa: F401 - one command serves both kinds of run

if __name__ == "__main__":
    run()
