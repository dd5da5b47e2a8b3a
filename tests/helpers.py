"""Pieces many test modules need: the repo path, running a command in a subprocess, the one-`error:`-line
check, a numpy reference translation and a small two-domain image set cut from the bundled images.

Import as `import helpers`: pytest puts `tests/` on `sys.path` (rootdir conftest, no `__init__.py`).
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import textwrap

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
EXPERIMENTS = REPO / "experiments"
SHARED_DATA = REPO.parent / "shared" / "data"
ASSETS = REPO / "tfstyle" / "assets"


def env(**extra: str) -> dict[str, str]:
    """The test process's environment with the repo importable and TensorFlow's start-up lines off."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")]))
    return {**os.environ, "PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "2", **extra}


def run_module(module: str, *args: str, timeout: float = 300, cwd: str | os.PathLike | None = None,
               extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python -m module args...` in a subprocess (text output captured, no check)."""
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd or REPO, env=env(**(extra_env or {})), check=False)


def run_script(script: str | os.PathLike, *args: str, timeout: float = 300,
               extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python script args...` in a subprocess (text output captured, no check)."""
    return subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=env(**(extra_env or {})), check=False)


def error_lines(stderr: str) -> list[str]:
    """The lines of `stderr` that start with `error:`."""
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def one_error_line(result: subprocess.CompletedProcess, pattern: str | None = None, code: int = 2) -> str:
    """Asserts the command failed the way a CLI must (exit `code`, exactly one `error:` line, no
    traceback, and nothing else on stderr but log lines); returns that line.

    `pattern`, when given, must be found in the line (a regular expression).
    """
    tail = result.stderr[-3000:]
    assert result.returncode == code, f"exit {result.returncode}, expected {code}:\n{tail}"
    assert "Traceback" not in result.stderr, tail
    errors = error_lines(result.stderr)
    assert len(errors) == 1, tail
    if pattern is not None:
        assert re.search(pattern, errors[0]), errors[0]
    return errors[0]


def reference_translate(generator, image: np.ndarray, multiple: int = 4) -> np.ndarray:
    """numpy reflect-pad to a multiple of `multiple`, the Keras model, crop back, numpy to uint8.

    image: uint8 [H, W, 3]; generator: float32 [1, H', W', 3] in [-1, 1] -> [-1, 1]. Returns uint8 [H, W, 3].
    """
    height, width = image.shape[:2]
    signed = image.astype(np.float32) / 255.0 * 2.0 - 1.0
    padded = np.pad(signed, ((0, -height % multiple), (0, -width % multiple), (0, 0)), mode="reflect")
    output = np.asarray(generator(padded[None], training=False))[0, :height, :width]
    return np.round(np.clip((output + 1.0) / 2.0, 0.0, 1.0) * 255.0).astype(np.uint8)


def random_images(sizes, seed: int = 0) -> list[np.ndarray]:
    """uint8 [H, W, 3] noise images, one per (H, W) in `sizes`."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for height, width in sizes]


def make_two_domain_set(root: str | os.PathLike, count_a: int = 5, count_b: int = 3, size: int = 40) -> pathlib.Path:
    """A small unpaired set cut from the two bundled images, so trainer tests need no `../shared`.

    Domain A: `count_a` crops of the astronaut photo; domain B: `count_b` crops of Starry Night, each
    `size` x `size` px PNG, taken at different places (so an epoch at batch 1 is max(count_a, count_b)
    steps). Returns `root`, holding `A/` and `B/`.
    """
    from PIL import Image

    root = pathlib.Path(root)
    for domain, source, count in (("A", "astronaut.jpg", count_a), ("B", "vangogh_starry_night.jpg", count_b)):
        folder = root / domain
        folder.mkdir(parents=True, exist_ok=True)
        with Image.open(ASSETS / source) as opened:
            picture = opened.convert("RGB")
        width, height = picture.size
        side = min(width, height) // 2
        for index in range(count):
            left = (index * (width - side)) // max(count - 1, 1)
            top = ((index * 7919) % max(height - side, 1))
            crop = picture.crop((left, top, left + side, top + side)).resize((size, size), Image.LANCZOS)
            crop.save(folder / f"{domain.lower()}_{index:02d}.png")
    return root


def two_layer_extractor():
    """A two-layer stand-in for the VGG extractor: float [B, H, W, 3] -> {"low": [B,H,W,4], "high": [B,H/2,W/2,6]}."""
    import keras

    keras.utils.set_random_seed(3)
    inputs = keras.Input((None, None, 3))
    low = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="low")(inputs)
    high = keras.layers.Conv2D(6, 3, strides=2, padding="same", activation="relu", name="high")(low)
    return keras.Model(inputs, {"low": low, "high": high})


def numpy_gram(features: np.ndarray) -> np.ndarray:
    """[1, H, W, C] -> [C, C], G = F^T F / (H W)."""
    flat = np.asarray(features, np.float64).reshape(-1, features.shape[-1])
    return flat.T @ flat / flat.shape[0]


def load_experiment(name: str):
    """experiments/<name>.py imported as a module (its folder on sys.path, for its sibling imports)."""
    import importlib.util

    if str(EXPERIMENTS) not in sys.path:
        sys.path.insert(0, str(EXPERIMENTS))
    spec = importlib.util.spec_from_file_location(name, EXPERIMENTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Exported models run by their own runtimes in a fresh process (tests of tfstyle.export and tfstyle.fast)

MAX_LEVELS = 2  # uint8 levels of 255 an exported graph may differ from the Keras model (measured: 0-1)

# Each runner is the whole client: load the file with its runtime, define run(uint8 [H, W, 3]) -> uint8.
RUNNERS = {
    "tensorflow": """
        import tensorflow as tf
        serve = tf.saved_model.load(path).signatures["serving_default"]
        def run(image):
            return serve(images=tf.constant(image[None]))["images"].numpy()[0]
    """,
    "tf.lite": """
        import tensorflow as tf
        interpreter = tf.lite.Interpreter(model_path=path)
        (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
        assert list(inp["shape_signature"]) == [1, -1, -1, 3] and inp["dtype"] == np.uint8, inp
        def run(image):  # the explicit way: resize the input tensor to each image's size
            interpreter.resize_tensor_input(inp["index"], [1, *image.shape])
            interpreter.allocate_tensors()
            interpreter.set_tensor(inp["index"], image[None])
            interpreter.invoke()
            return interpreter.get_tensor(out["index"])[0]
    """,
    "ai_edge_litert": """
        from ai_edge_litert.interpreter import Interpreter
        runner = Interpreter(model_path=path).get_signature_runner()  # resizes by itself
        def run(image):
            return runner(images=image[None], **extra)["images"][0]
    """,
    "onnxruntime": """
        import onnxruntime
        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        assert [i.name for i in session.get_inputs()] == ["images", *extra], session.get_inputs()
        def run(image):
            return session.run(["translated"], {"images": image[None], **extra})[0][0]
        # B is dynamic too: two images of one size in one call
        pair = np.stack([photos[0], photos[0][::-1]])
        both = session.run(["translated"], {"images": pair, **extra})[0]
        np.save(f"{work}/pair.npy", both)
    """,
}
RUNTIME_PACKAGES = {"tf.lite": "tensorflow", "ai_edge_litert": "ai_edge_litert", "onnxruntime": "onnxruntime",
                    "tensorflow": "tensorflow"}


def run_in_runtime(runtime: str, path: str, photos: list[np.ndarray], work, style: np.ndarray | None = None,
                   alpha: float = 1.0) -> tuple[list[np.ndarray], str]:
    """Runs the exported `path` on `photos` in a fresh process with only `runtime` (and numpy) imported;
    an arbitrary-style export also gets `style` (uint8 [H', W', 3]) and `alpha` (ai_edge_litert, onnxruntime).

    Returns the outputs and the process's last stdout line: the top-level packages it imported among
    tensorflow / tfstyle (so a test can check that a LiteRT or ONNX client needs no TensorFlow).
    """
    np.savez(os.path.join(work, "photos.npz"), *photos)
    script = "import sys\nimport numpy as np\npath, work = sys.argv[1:]\n" \
             "with np.load(f'{work}/photos.npz') as stored:\n    photos = [stored[k] for k in stored.files]\n"
    script += "extra = {}\n"
    if style is not None:
        np.save(os.path.join(work, "style.npy"), style)
        script += f"extra = {{'style': np.load(f'{{work}}/style.npy')[None], 'alpha': np.array({alpha}, np.float32)}}\n"
    script += textwrap.dedent(RUNNERS[runtime])
    script += textwrap.dedent("""
        np.savez(f"{work}/out.npz", *[run(photo) for photo in photos])
        print(",".join(name for name in ("tensorflow", "tfstyle") if name in sys.modules) or "neither")
    """)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("PYTHONPATH", None)
    result = subprocess.run([sys.executable, "-c", script, path, str(work)], capture_output=True, text=True,
                            env=env, timeout=240, cwd=work)
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(os.path.join(work, "out.npz")) as stored:
        outputs = [stored[key] for key in stored.files]
    return outputs, result.stdout.strip().splitlines()[-1]


def level_differences(outputs, expected) -> np.ndarray:
    """|output - expected| in uint8 levels, every pixel of every image, after checking shapes and dtypes."""
    for output, reference in zip(outputs, expected, strict=True):
        assert output.dtype == np.uint8 and output.shape == reference.shape
    return np.concatenate([np.abs(output.astype(int) - reference.astype(int)).ravel()
                           for output, reference in zip(outputs, expected, strict=True)])
