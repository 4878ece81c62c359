#!/usr/bin/env python3
"""Reads and writes safetensors with numpy alone (Debian's python3-numpy), to prove that pesuite's
files are plain safetensors.

    safetensors_numpy.py read FILE           print every tensor's name, dtype and shape
    safetensors_numpy.py check FILE          check the values tests/python/interop.cpp writes
    safetensors_numpy.py write FILE          write those values (metadata writer=numpy)

Also a small library: `load(path) -> (dict name -> ndarray, metadata)`; BF16 comes back as float32.
"""
import json
import struct
import sys

import numpy as np

DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
          "I8": "i1", "U8": "u1", "BOOL": "?"}


def load(path, tags=None):
    """tags: a dict to fill with each tensor's dtype tag as written in the header."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    out = {}
    for name, e in header.items():
        if tags is not None:
            tags[name] = e["dtype"]
        b, end = e["data_offsets"]
        buf = data[b:end]
        if e["dtype"] == "BF16":  # numpy has no bfloat16: widen to float32 bit-exactly
            u16 = np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16
            arr = u16.view(np.float32)
        else:
            arr = np.frombuffer(buf, dtype=DTYPES[e["dtype"]])
        out[name] = arr.reshape(e["shape"])
    return out, meta


def save(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        dtype = next(k for k, v in DTYPES.items() if np.dtype(v) == a.dtype)
        b = a.tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def reference():
    base = np.arange(12, dtype=np.float64).reshape(3, 4) * 0.5 - 2.0
    return {"f64": base, "f32": base.astype(np.float32), "f16": base.astype(np.float16),
            "bf16": base.astype(np.float32),
            "i64": np.arange(-6, 6, dtype=np.int64).reshape(2, 6), "i32": np.arange(-6, 6, dtype=np.int32),
            "u8": np.arange(250, 256).astype(np.uint8), "bool": np.array([True, False, False, True])}


def main():
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "read":
        tensors, meta = load(path)
        print(json.dumps(meta))
        for k, v in tensors.items():
            print(k, v.dtype, list(v.shape))
    elif mode == "check":
        tags = {}
        tensors, meta = load(path, tags)
        assert meta.get("writer") == "pesuite", meta
        ref = reference()
        assert sorted(tensors) == sorted(ref), sorted(tensors)
        # The header's dtype tag is the tensor's type (equal values in another type would pass
        # array_equal), and the bytes read under that tag are the values.
        want_tags = {"f64": "F64", "f32": "F32", "f16": "F16", "bf16": "BF16", "i64": "I64", "i32": "I32", "u8": "U8", "bool": "BOOL"}
        for k, v in ref.items():
            got = tensors[k]
            assert tags[k] == want_tags[k], (k, tags[k])
            assert got.dtype == v.dtype, (k, got.dtype, v.dtype)
            assert got.shape == v.shape and np.array_equal(got, v), k
        print(f"numpy read pesuite's file: {len(tensors)} tensors ok")
    elif mode == "write":
        ref = reference()
        del ref["bf16"]  # numpy cannot write bfloat16; pesuite's own round trip covers it
        save(path, ref, {"writer": "numpy"})
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
