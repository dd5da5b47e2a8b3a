"""Readers for `torch.save` files of a flat dict of CPU tensors (a `state_dict`), without torch.

Two layouts, which `read_torch_file` tells apart by the zip magic:

* legacy (before torch 1.6, and `_use_new_zipfile_serialization=False`): three small pickles (magic
  number, protocol version, system info), the main pickle (a dict of tensors, each rebuilt by
  `torch._utils._rebuild_tensor_v2` from a persistent storage id), a pickle listing the storage keys,
  then per key an int64 element count and the raw little-endian data;
* zip (torch 1.6 and later): an archive holding `<name>/data.pkl` (the same main pickle) and each
  storage's raw little-endian bytes in `<name>/data/<key>`.

Both are read with a `pickle.Unpickler` that resolves only those few names and refuses every other
global, so a crafted file cannot run code.
"""

from __future__ import annotations

import collections
import dataclasses
import io
import pickle
import struct
import zipfile

import numpy as np

_STORAGE_DTYPES = {"FloatStorage": np.float32, "ByteStorage": np.uint8, "LongStorage": np.int64,
                   "HalfStorage": np.float16, "DoubleStorage": np.float64, "IntStorage": np.int32}


@dataclasses.dataclass(frozen=True)
class _TensorRecord:
    storage_key: str
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
    """Stands in for `torch._utils._rebuild_tensor_v2`: records where the tensor's data lies."""
    return _TensorRecord(str(storage), int(storage_offset), tuple(int(s) for s in size),
                         tuple(int(s) for s in stride))


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles a legacy torch tensor dict, resolving only the names such a file needs.

    Allowed globals: `torch._utils._rebuild_tensor_v2` (replaced by a record maker), the typed
    storages `torch.FloatStorage`, `torch.LongStorage`, ... (as plain names) and `collections.OrderedDict`.
    Anything else (`os.system`, `builtins.eval`, ...) raises `pickle.UnpicklingError`, so a
    crafted file cannot run code.
    """

    def __init__(self, file):
        super().__init__(file)
        self.storage_types: dict[str, str] = {}

    def find_class(self, module, name):
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return name
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name} from a weights file")

    def persistent_load(self, pid):
        # ('storage', storage type, key, location, element count[, view metadata])
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"
                and pid[1] in _STORAGE_DTYPES):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        key = str(pid[2])
        self.storage_types[key] = pid[1]
        return key


def read_torch_legacy(data: bytes) -> dict[str, np.ndarray]:
    """Reads a legacy (non-zip) `torch.save` file of a flat dict of CPU tensors, without torch.

    Args:
        data: the file's bytes.

    Returns:
        {name: numpy array} with the saved dtype (float32 or uint8) and shape (C-contiguous copies).

    Raises:
        ValueError: the file names a global other than the tensor-rebuild ones (refused by
            `RestrictedUnpickler`), or it is truncated or malformed.
    """
    file = io.BytesIO(data)
    safe = RestrictedUnpickler
    try:
        for _ in range(3):  # magic number, protocol version, system info: plain values only
            safe(file).load()
        unpickler = safe(file)
        records = unpickler.load()
        keys = safe(file).load()
        storages = {}
        for key in keys:
            (count,) = struct.unpack("<q", file.read(8))
            dtype = np.dtype(_STORAGE_DTYPES[unpickler.storage_types[str(key)]]).newbyteorder("<")
            raw = file.read(count * dtype.itemsize)
            if len(raw) != count * dtype.itemsize:
                raise ValueError(f"malformed torch file: truncated storage {key}")
            storages[str(key)] = np.frombuffer(raw, dtype)
    except pickle.UnpicklingError as error:
        raise ValueError(f"unsafe or malformed torch file: {error}") from None
    except (EOFError, struct.error, KeyError, TypeError, IndexError) as error:
        raise ValueError(f"malformed torch file: {error!r}") from None
    return _tensors(records, storages)


def read_torch_zip(data: bytes) -> dict[str, np.ndarray]:
    """Reads a zip-format `torch.save` file (torch >= 1.6) of a flat dict of CPU tensors, without torch.

    Returns and raises as `read_torch_legacy`.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
        pickles = [name for name in names if name.endswith("/data.pkl") and name.count("/") == 1]
        if len(pickles) != 1:
            raise ValueError("malformed torch file: no <name>/data.pkl in the archive")
        prefix = pickles[0][: -len("data.pkl")]
        byteorder = f"{prefix}byteorder"
        if byteorder in names and archive.read(byteorder).strip() not in (b"little", b""):
            raise ValueError("unsupported torch file: big-endian storages")
        unpickler = RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])))
        records = unpickler.load()
        storages = {}
        for key, kind in unpickler.storage_types.items():
            raw = archive.read(f"{prefix}data/{key}")
            dtype = np.dtype(_STORAGE_DTYPES[kind]).newbyteorder("<")
            if len(raw) % dtype.itemsize:
                raise ValueError(f"malformed torch file: storage {key} is not whole {kind} items")
            storages[key] = np.frombuffer(raw, dtype)
    except pickle.UnpicklingError as error:
        raise ValueError(f"unsafe or malformed torch file: {error}") from None
    except (zipfile.BadZipFile, KeyError, EOFError, TypeError, IndexError) as error:
        raise ValueError(f"malformed torch file: {error!r}") from None
    return _tensors(records, storages)


def read_torch_file(data: bytes) -> dict[str, np.ndarray]:
    """A `torch.save` file of a flat dict of CPU tensors in either layout (`read_torch_zip`,
    `read_torch_legacy`). A nested dict (a training checkpoint holding a state_dict) is refused as not a
    dict of tensors."""
    return read_torch_zip(data) if data[:4] == b"PK\x03\x04" else read_torch_legacy(data)


def _tensors(records, storages: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The unpickled main object (name -> `_TensorRecord`) as name -> numpy array, checked."""
    if not isinstance(records, dict):
        raise ValueError("malformed torch file: the main object is not a dict of tensors")
    tensors = {}
    for name, record in records.items():
        if not isinstance(record, _TensorRecord):
            raise ValueError(f"malformed torch file: {name} is not a tensor")
        count = int(np.prod(record.shape, dtype=np.int64))
        shape = record.shape
        contiguous = tuple(int(np.prod(shape[i + 1:], dtype=np.int64)) for i in range(len(shape)))
        if count > 1 and record.stride != contiguous:
            raise ValueError(f"tensor {name} is not contiguous (stride {record.stride})")
        flat = storages[record.storage_key][record.offset:record.offset + count]
        if flat.size != count:
            raise ValueError(f"tensor {name} runs past its storage")
        tensors[str(name)] = flat.astype(flat.dtype.newbyteorder("="), copy=True).reshape(record.shape)
    return tensors
