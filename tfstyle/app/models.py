"""The models the web app offers: what `--models_dir` holds, found by how the library recognises each kind.

* training runs (`tfstyle.training.rundir.RunDir`): a folder with `config.json` whose "task" names the trainer
  ("fast_style": a per-style or, with `"arbitrary": true`, an AdaIN network; "cyclegan": two generators) and a
  checkpoint (`RunDir.has_checkpoint`);
* SavedModel exports (`tfstyle.export`): a folder with `saved_model.pb`, usually a version folder
  `<export_dir>/<N>/`; offered to the Translate panel when its serving signature takes images alone;
* the bundled per-style network (`tfstyle.fast.config.BUNDLED_MODEL`) always, and Magenta's pretrained
  arbitrary-style network ("magenta (pretrained)") once `python -m tfstyle.weights fetch` has converted it.

A model is chosen by its display name; `Catalog.get` maps it to the server-side folder, so a client never names
a path. Scanning reads config.json files, checkpoint file names and saved_model.pb signatures, never weights.
"""

from __future__ import annotations

import dataclasses
import logging
import os

from tfstyle.fast.config import BUNDLED_MODEL

logger = logging.getLogger(__name__)

KINDS = ("fast", "arbitrary", "cyclegan", "savedmodel")
MAX_DEPTH = 4  # folders below --models_dir that are searched
_SKIPPED = ("checkpoints", "logs", "variables", "assets", "samples")  # never hold a run of their own
SAVED_MODEL_FILE = "saved_model.pb"
MAGENTA_ENTRY = "magenta (pretrained)"  # `tfstyle.fast.inference.MAGENTA`, listed when its weights are converted


def _magenta_converted() -> bool:
    from tfstyle.weights import magenta, resolve

    return os.path.isfile(os.path.join(resolve.default_cache_dir(), magenta.CONVERTED))


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One model the app offers.

    Attributes:
        name: the display name, the only thing a client sends ("starry_night (bundled)", "hokusai", ...).
        path: the folder on the server (absolute), or "magenta" (`tfstyle.fast.inference.MAGENTA`).
        kind: "fast" (per-style network), "arbitrary" (AdaIN), "cyclegan" (run folder) or "savedmodel".
        shown: the folder as a command line on this computer would name it (`--models_dir` as given, joined
            with the folder's path below it), or "" for the bundled per-style network (the commands' default).
    """

    name: str
    path: str
    kind: str
    shown: str


@dataclasses.dataclass(frozen=True)
class Catalog:
    """The models found, by display name."""

    entries: tuple[ModelEntry, ...]

    def names(self, *kinds: str) -> list[str]:
        return [entry.name for entry in self.entries if entry.kind in kinds]

    def get(self, name: str | None, *kinds: str) -> ModelEntry:
        """The entry called `name`, of one of `kinds`; ValueError for any other name (a client cannot reach a
        folder the scan did not offer)."""
        for entry in self.entries:
            if entry.name == name and entry.kind in kinds:
                return entry
        raise ValueError(f"no such model: {name!r} (choose one of the list; new runs appear after Rescan)")


def _saved_model_takes_images_only(folder: str) -> bool:
    """Whether a SavedModel's `serving_default` takes only `images` (not an arbitrary-style export, which also
    takes `style` and `alpha`); reads the signature from saved_model.pb without loading the model."""
    from tensorflow.core.protobuf import saved_model_pb2

    from tfstyle import export

    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(folder, SAVED_MODEL_FILE), "rb") as file:
        proto.ParseFromString(file.read())
    for graph in proto.meta_graphs:
        signature = graph.signature_def.get(export.SERVING_SIGNATURE)
        if signature is not None:
            return set(signature.inputs) == {export.IMAGES_KEY}
    return False


def _run_entry(folder: str, name: str, shown: str) -> ModelEntry | None:
    """The entry of a run folder (config.json) with a checkpoint, or None (another trainer, or untrained)."""
    from tfstyle.cyclegan import config as cyclegan_config
    from tfstyle.fast.config import TASK as FAST_TASK
    from tfstyle.fast.config import FastTrainConfig
    from tfstyle.pix2pix.config import TASK as PIX2PIX_TASK
    from tfstyle.training import rundir

    run = rundir.RunDir(folder)
    try:
        task = run.task()
        if task == FAST_TASK:
            kind = "arbitrary" if run.load_config(FastTrainConfig, task=FAST_TASK).arbitrary else "fast"
        elif task in (cyclegan_config.TASK, PIX2PIX_TASK):  # both translate through one generator ("a2b")
            kind = "cyclegan"
        else:
            return None
    except (OSError, ValueError) as error:
        logger.warning("skipping %s: %s", folder, error)
        return None
    if not run.has_checkpoint():
        logger.info("skipping %s: no checkpoint yet", folder)
        return None
    return ModelEntry(name, os.path.abspath(folder), kind, shown)


def scan(models_dir: str | os.PathLike) -> Catalog:
    """Finds the models under `models_dir` (up to `MAX_DEPTH` folders deep; a missing folder holds none), plus the
    bundled ones. Names are the folders' paths below `models_dir`; symbolic links are not followed."""
    models_dir = os.fspath(models_dir)
    entries = [ModelEntry("starry_night (bundled)", BUNDLED_MODEL, "fast", "")]
    if _magenta_converted():
        entries.append(ModelEntry(MAGENTA_ENTRY, "magenta", "arbitrary", "magenta"))
    root = os.path.abspath(models_dir)
    for folder, subfolders, filenames in os.walk(root):
        relative = os.path.relpath(folder, root)
        depth = 0 if relative == "." else relative.count(os.sep) + 1
        subfolders[:] = sorted(name for name in subfolders if not name.startswith(".") and name not in _SKIPPED
                               and depth < MAX_DEPTH)
        name = os.path.basename(root) if relative == "." else relative
        shown = os.path.normpath(os.path.join(models_dir, relative))
        entry = None
        if "config.json" in filenames:
            entry = _run_entry(folder, name, shown)
            subfolders[:] = []  # a run's own folders hold no other run
        elif SAVED_MODEL_FILE in filenames:
            try:
                if _saved_model_takes_images_only(folder):
                    entry = ModelEntry(name, folder, "savedmodel", shown)
            except Exception as error:  # noqa: BLE001 - one damaged export must not hide the others
                logger.warning("skipping %s: unreadable %s (%s)", folder, SAVED_MODEL_FILE, error)
            subfolders[:] = []
        if entry is not None:
            entries.append(entry)
    logger.info("models: %s", ", ".join(f"{entry.name} [{entry.kind}]" for entry in entries))
    return Catalog(tuple(entries))
