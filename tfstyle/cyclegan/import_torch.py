"""Import a generator of pytorch-CycleGAN-and-pix2pix (`latest_net_G.pth`) as a tfstyle run folder, without torch.

    python -m tfstyle.cyclegan.import_torch horse2zebra.pth --model_dir runs/horse2zebra
    python -m tfstyle.cyclegan.import_torch latest_net_G_A.pth --b2a latest_net_G_B.pth --model_dir runs/h2z
    python -m tfstyle.cyclegan.import_torch facades_label2photo.pth --netG unet_256 --norm batch \\
        --model_dir runs/facades

The file is read by `tfstyle.weights.read_torch_file` (current zip and legacy `torch.save` formats, a
restricted unpickler that refuses every global but the tensor ones). The architecture is read off its keys
(`torch_import.infer_architecture`); `--netG`, `--ngf` and `--norm` given explicitly are checked against
the file, naming the first key that does not fit. The weights go into the Keras generator of
`tfstyle.cyclegan.models` (`torch_import.map_state_dict`), and the run folder, written all or nothing, is
one that `translate`, `export`, `video --engine cyclegan` and the app read as they read a trained one:

    <model_dir>/config.json         a CycleGAN run (ResNet generators) or a pix2pix run (U-Net), see --model
    <model_dir>/checkpoints/ckpt-0  generator_ab (the file), generator_ba (--b2a)
    <model_dir>/imported.json       where the weights came from: file names, sha256, architecture

Batch norm is imported with its running statistics and used as in the reference's `test.py --eval`;
the reference's default test mode (no `--eval`) normalises each test image by its own statistics and keeps
dropout on, so its pictures differ a little.
"""

from __future__ import annotations

from tfstyle import cli
from tfstyle.cyclegan.torch_import import ImportArgs, import_run

cli.define_flags(ImportArgs)


def main(argv: list[str]) -> None:
    cli.setup_logging()
    args = cli.config_from_flags(ImportArgs)
    args.validate(argv[1:])
    model_dir = import_run(args, argv[1])
    print(f"wrote {model_dir}: python -m tfstyle.cyclegan.translate --model_dir {model_dir} --input ... "
          "--output ...")


run = cli.main_wrapper(main)

if __name__ == "__main__":
    run()
