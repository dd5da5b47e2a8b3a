"""The notebooks in notebooks/: committed without outputs, and executed top to bottom with small parameters.

Execution is papermill-style without papermill: the cell tagged `parameters` is kept and a cell with
the small values is inserted right after it; nbclient then runs every cell in a fresh kernel whose
working folder is a tmp dir, and any cell error fails the test. The kernel is the Python running
pytest (a kernel spec written to a tmp dir with `sys.executable`), never whatever `python3` spec a
machine has installed, which may point at another interpreter without tfstyle.

Besides "no cell failed", each run checks what the notebook produced: result files with the
requested sizes, decodable images, inline figures, and the lines the notebook prints about resuming
and serving (the notebooks themselves assert the resume step count and that the REST-style answers
equal `translate_images` pixel for pixel).
"""

from __future__ import annotations

import ast
import json
import pathlib
import sys

import helpers
import nbclient
import nbformat
import numpy as np
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager

from tfstyle import images

NOTEBOOKS = helpers.REPO / "notebooks"
KERNEL_NAME = "tfstyle-test-kernel"
CELL_TIMEOUT_S = 600


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def notebook_paths() -> list[pathlib.Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def parameter_cell_index(notebook) -> int:
    tagged = [index for index, cell in enumerate(notebook.cells)
              if "parameters" in cell.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"expected one cell tagged 'parameters', found {len(tagged)}"
    assert notebook.cells[tagged[0]].cell_type == "code"
    return tagged[0]


def assigned_names(source: str) -> set[str]:
    return {target.id for node in ast.parse(source).body if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)}


def inject_parameters(notebook, values: dict) -> None:
    """Inserts `NAME = repr(value)` lines after the `parameters` cell, as papermill does.

    Every name must already be a parameter, so a renamed parameter fails here instead of being
    silently ignored by the notebook.
    """
    index = parameter_cell_index(notebook)
    unknown = set(values) - assigned_names(notebook.cells[index].source)
    assert not unknown, f"not parameters of this notebook: {sorted(unknown)}"
    source = "# Parameters injected by tests/test_notebooks.py\n" + "".join(
        f"{name} = {value!r}\n" for name, value in values.items())
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = ["injected-parameters"]
    notebook.cells.insert(index + 1, cell)


def kernel_manager(spec_dir: pathlib.Path) -> AsyncKernelManager:
    """A kernel manager for this very interpreter (`sys.executable`), via a kernel spec in `spec_dir`."""
    kernel_dir = spec_dir / KERNEL_NAME
    kernel_dir.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "tfstyle tests", "language": "python"}
    (kernel_dir / "kernel.json").write_text(json.dumps(spec))
    return AsyncKernelManager(kernel_name=KERNEL_NAME,
                              kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(spec_dir)]))


def execute(name: str, values: dict, workdir: pathlib.Path, spec_dir: pathlib.Path):
    """Runs notebooks/<name> with `values` injected, in `workdir`; returns the executed notebook."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    inject_parameters(notebook, values)
    workdir.mkdir(parents=True, exist_ok=True)
    client = nbclient.NotebookClient(
        notebook, km=kernel_manager(spec_dir), timeout=CELL_TIMEOUT_S, allow_errors=False,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()  # raises CellExecutionError naming the cell and its traceback
    (workdir / f"executed_{name}").write_text(nbformat.writes(notebook))  # kept for debugging failures
    return notebook


def outputs_of(notebook) -> tuple[str, int]:
    """(all stdout text, number of inline PNG figures) of an executed notebook."""
    text, figures = [], 0
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("name") == "stdout":
                text.append(output["text"])
            figures += "image/png" in output.get("data", {})
    return "".join(text), figures


def vgg_weights() -> str:
    """"auto" when the offline ImageNet VGG19 is on this machine (CI runs `make weights` first), else "random"."""
    from tfstyle import weights

    try:
        weights.resolve_weights("vgg19", "auto")
    except FileNotFoundError:
        return "random"
    return "auto"


# ---------------------------------------------------------------------------------------------
# Committed notebooks
# ---------------------------------------------------------------------------------------------


def test_notebooks_exist():
    assert [path.name for path in notebook_paths()] == ["cyclegan.ipynb", "fast_style.ipynb", "style_transfer.ipynb"]


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda path: path.name)
def test_notebook_is_valid_stripped_and_colab_ready(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {index} has outputs: strip them before committing"
            assert cell.execution_count is None, f"{path.name} cell {index} has an execution count"
            ast.parse(cell.source)  # no magics: the notebooks also run as plain Python
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert "pip" in code_cells[0].source and "find_spec(\"tfstyle\")" in code_cells[0].source, (
        "the first code cell installs tfstyle where it is missing")
    index = parameter_cell_index(notebook)
    parameters = assigned_names(notebook.cells[index].source)
    assert parameters, "the parameters cell assigns nothing"
    # Every parameter is a plain literal, so a papermill-style injection can override each one.
    for node in ast.parse(notebook.cells[index].source).body:
        assert isinstance(node, ast.Assign), f"{path.name}: only assignments belong in the parameters cell"
        ast.literal_eval(node.value)
    assert notebook.metadata["kernelspec"]["name"] == "python3"


def test_inject_parameters_rejects_unknown_names():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("A = 1\nB = 'x'")])
    notebook.cells[0].metadata["tags"] = ["parameters"]
    inject_parameters(notebook, {"B": "y"})
    assert notebook.cells[1].source.endswith("B = 'y'\n")
    assert notebook.cells[1].metadata["tags"] == ["injected-parameters"]
    with pytest.raises(AssertionError, match="not parameters"):
        inject_parameters(notebook, {"C": 2})


# ---------------------------------------------------------------------------------------------
# Execution with small parameters
# ---------------------------------------------------------------------------------------------


def style_parameters(data_dir: pathlib.Path) -> dict:
    return dict(IMAGE_SIZE=48, ITERATIONS=4, OPTIMIZER="adam", HIGH_RES_SIZE=128, HIGH_RES_SCALES=2,
                BATCH_IMAGES=3, BATCH_SIZE=2, EVAL_SIZE=64, WEIGHTS=vgg_weights(), DATA_DIR=str(data_dir),
                OUTPUT_DIR="outputs")


def cyclegan_parameters(data_dir: pathlib.Path) -> dict:
    return dict(DATA_DIR=str(data_dir), IMAGE_SIZE=32, LOAD_SIZE=36, GENERATOR="resnet_1blocks", NGF=8, NDF=8,
                FIRST_STEPS=4, MORE_STEPS=2, LOG_EVERY=2, CHECKPOINT_EVERY=2, TRANSLATE_IMAGES=3,
                TRANSLATE_SIZE=48, EVAL_IMAGE_SIZE=32, WEIGHTS=vgg_weights(), WORK_DIR="outputs")


def fast_parameters(data_dir: pathlib.Path) -> dict:
    return dict(STYLIZE_SIZE=64, TRAIN_STEPS=2, TRAIN_SIZE=32, TRAIN_BATCH=2, FILTERS=8, RESIDUAL_BLOCKS=1,
                ADAIN_STEPS=2, ADAIN_SIZE=32, DECODER_WIDTH=4, ALPHAS=(0.0, 0.5, 1.0), WEIGHTS=vgg_weights(),
                DATA_DIR=str(data_dir), OUTPUT_DIR="outputs")


def check_fast_outputs(notebook, workdir: pathlib.Path) -> None:
    text, figures = outputs_of(notebook)
    assert figures >= 5  # inputs, bundled, per-style, alpha dial, blend and colours
    outputs = workdir / "outputs"
    for name in ("bundled_starry_night.png", "per_style.png", "alpha_0.png", "alpha_0.5.png", "alpha_1.png",
                 "blend.png"):
        assert max(images.read_image_uint8(outputs / name).shape[:2]) == 64, name  # STYLIZE_SIZE
    assert "2 steps in" in text
    assert (outputs / "saved_models" / "starry_night" / "1" / "saved_model.pb").is_file()
    assert (outputs / "saved_models" / "adain" / "1" / "saved_model.pb").is_file()
    differences = [int(line.split("largest difference")[1].split()[-2]) for line in text.splitlines()
                   if "largest difference" in line]
    assert len(differences) >= 2 and max(differences) <= 1, text


def check_style_outputs(notebook, workdir: pathlib.Path) -> None:
    text, figures = outputs_of(notebook)
    assert figures >= 6  # inputs, sample, blends, colours, high resolution, batch
    outputs = workdir / "outputs"
    for name in ("astronaut_starry_night.png", "blend_0.7_0.3.png", "blend_0.3_0.7.png", "colours_luminance.png",
                 "colours_histogram.png"):
        assert max(images.read_image_uint8(outputs / name).shape[:2]) == 48, name  # IMAGE_SIZE
    assert max(images.read_image_uint8(outputs / "astronaut_starry_night_high_res.png").shape[:2]) == 128
    assert "stages: 64x64 px -> 128x128 px" in text
    batch = sorted((outputs / "batch").glob("*.png"))
    assert len(batch) == 3
    assert all(max(images.read_image_uint8(path).shape[:2]) == 48 for path in batch)
    # The evaluator's table: one row per colour mode with two finite, non-negative losses.
    rows = [line.split() for line in text.splitlines() if line.split()[:1] in (["none"], ["luminance"],
                                                                              ["histogram"])]
    assert [row[0] for row in rows] == ["none", "luminance", "histogram"]
    values = np.array([[float(value) for value in row[1:]] for row in rows])
    assert values.shape == (3, 2) and np.all(np.isfinite(values)) and np.all(values >= 0)


def check_cyclegan_outputs(notebook, workdir: pathlib.Path) -> None:
    text, figures = outputs_of(notebook)
    assert figures >= 4  # data, losses (twice), translations
    outputs = workdir / "outputs"
    assert "resumed from" in text and "at step 4" in text and "now at step 6" in text
    assert (outputs / "run" / "config.json").is_file()
    assert sorted(path.name for path in (outputs / "saved_models" / "photo2painting").iterdir()) == ["1"]
    assert (outputs / "saved_models" / "photo2painting" / "1" / "saved_model.pb").is_file()
    translated = sorted((outputs / "translated").glob("*.png"))
    assert len(translated) == 3
    assert all(max(images.read_image_uint8(path).shape[:2]) == 48 for path in translated)
    for request in ("instances (uint8)", "inputs (uint8)", "instances (b64)"):
        assert f"{request}: same pixels as translate_images" in text
    assert "KID-VGG" in text


@pytest.fixture
def data_dirs() -> dict:
    """DATA_DIR per notebook: ../shared/data when present (a missing folder makes the notebook build its own)."""
    return {"style": helpers.SHARED_DATA, "cyclegan": helpers.SHARED_DATA / "unpaired" / "photo2painting"}


def test_style_transfer_notebook_runs(tmp_path, data_dirs):
    notebook = execute("style_transfer.ipynb", style_parameters(data_dirs["style"]), tmp_path / "work",
                       tmp_path / "kernels")
    check_style_outputs(notebook, tmp_path / "work")


def test_fast_style_notebook_runs(tmp_path, data_dirs):
    notebook = execute("fast_style.ipynb", fast_parameters(data_dirs["style"]), tmp_path / "work", tmp_path / "kernels")
    check_fast_outputs(notebook, tmp_path / "work")


def test_cyclegan_notebook_runs(tmp_path, data_dirs):
    notebook = execute("cyclegan.ipynb", cyclegan_parameters(data_dirs["cyclegan"]), tmp_path / "work",
                       tmp_path / "kernels")
    check_cyclegan_outputs(notebook, tmp_path / "work")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["style_transfer.ipynb", "cyclegan.ipynb", "fast_style.ipynb"])
def test_notebooks_run_without_project_data(tmp_path, name):
    """The Colab path: no ../shared, so each notebook builds its inputs from the bundled images."""
    missing = tmp_path / "no_data_here"
    if name == "style_transfer.ipynb":
        notebook = execute(name, style_parameters(missing), tmp_path / "work", tmp_path / "kernels")
        check_style_outputs(notebook, tmp_path / "work")
        assert (tmp_path / "work" / "outputs" / "pattern.png").is_file()
    elif name == "fast_style.ipynb":
        notebook = execute(name, fast_parameters(missing), tmp_path / "work", tmp_path / "kernels")
        check_fast_outputs(notebook, tmp_path / "work")
        assert len(images.list_images(tmp_path / "work" / "outputs" / "paintings")) == 3
    else:
        notebook = execute(name, cyclegan_parameters(missing), tmp_path / "work", tmp_path / "kernels")
        check_cyclegan_outputs(notebook, tmp_path / "work")
        assert len(images.list_images(tmp_path / "work" / "outputs" / "data" / "A")) >= 2
