"""experiments/serve_threads.py: an exported SavedModel called from 8 threads gives the one-thread pixels."""

import json

import helpers

FIXTURE = helpers.REPO / "tests" / "fixtures" / "torch_generators" / "resnet_9blocks_instance.pth"


def test_savedmodel_from_eight_threads_equals_one_thread(tmp_path):
    from tfstyle.cyclegan import inference
    from tfstyle.cyclegan import torch_import as import_torch

    run = tmp_path / "run"
    import_torch.import_run(import_torch.ImportArgs(model_dir=str(run)), str(FIXTURE))
    generator, config = inference.load_generator(run)
    version = inference.export_generator(generator, tmp_path / "export", rule=inference.size_rule(config))
    result = helpers.run_script(helpers.EXPERIMENTS / "serve_threads.py", "--export_dir", tmp_path / "export",
                                "--threads", "8", "--calls", "2", "--size", "48", "--images", "2", "--output", "-")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))
    assert json.loads(line[len("RESULT "):]) == {"equal": True, "mismatches": []}
    assert "8 threads x 2 images x 2 calls" in result.stdout
    assert version.startswith(str(tmp_path / "export"))
