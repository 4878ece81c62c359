#!/usr/bin/env python3
"""Converts a PyTorch checkpoint (.pt / .pth / .pkl written by torch.save) to safetensors, the
tensor format pesuite loads (pesuite::io::load_safetensors / load_module_state).

    torch_to_safetensors.py IN OUT.safetensors [--key NAME] [--strip-prefix P ...] [--exclude REGEX ...]
                            [--trust-pickle] [--list]

What it accepts:
  * a state dict (name -> tensor), e.g. torchvision's resnet50-*.pth or Hopenet's hopenet_*.pkl;
  * a dict holding one under 'state_dict' or 'model' (or --key NAME), nested any number of times,
    as training scripts save {'epoch': ..., 'state_dict': {...}, 'optimizer': ...};
  * a pickled nn.Module (its state_dict() is taken; needs --trust-pickle, see below).
Names lose a leading 'module.' (DataParallel / DistributedDataParallel) or '_orig_mod.'
(torch.compile), plus any --strip-prefix given. Entries that are not tensors are skipped and listed.
--exclude drops tensors whose name matches a regular expression (e.g. Hopenet's vestigial
'^fc_finetune\\.').

Files are read with torch.load(weights_only=True) where this torch has it, which unpickles tensors
and plain containers only; --trust-pickle allows arbitrary pickles (a whole nn.Module): only for
files you trust. Tensors keep their dtype (F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL), are
written in name order, and the file is written to a temporary and renamed.

Needs only torch (Debian: apt-get install python3-torch); numpy is used when present.
"""
import argparse
import json
import os
import re
import struct
import sys

import torch

DTYPES = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}
NESTED_KEYS = ("state_dict", "model")
DEFAULT_PREFIXES = ("module.", "_orig_mod.")


def load_checkpoint(path, trust_pickle):
    try:
        return torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except TypeError:  # a torch without weights_only (< 1.13)
        if not trust_pickle:
            sys.exit(f"error: {path}: this torch cannot restrict unpickling; pass --trust-pickle for a file you trust")
        return torch.load(path, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - the reason goes to the user
        hint = "" if trust_pickle else " (a pickled nn.Module or other objects need --trust-pickle, for files you trust)"
        sys.exit(f"error: {path}: cannot load: {e}{hint}")


def find_state_dict(obj, key, path):
    """Descends into 'state_dict' / 'model' (or key) until a mapping of tensors is found."""
    trail = []
    while True:
        if isinstance(obj, torch.nn.Module):
            return obj.state_dict(), trail
        if not isinstance(obj, dict):
            sys.exit(f"error: {path}: {'/'.join(trail) or 'the file'} holds a {type(obj).__name__}, not a state dict")
        keys = [key] if key else list(NESTED_KEYS)
        inner = next((k for k in keys if k in obj and isinstance(obj[k], (dict, torch.nn.Module))), None)
        if inner is not None and not all(torch.is_tensor(v) for v in obj.values()):
            trail.append(inner)
            obj = obj[inner]
            continue
        if key and key not in trail:
            sys.exit(f"error: {path}: no entry '{key}' holding a state dict")
        return obj, trail


def clean_names(state, prefixes, excludes, path):
    out, skipped, dropped = {}, [], []
    for name, value in state.items():
        if not torch.is_tensor(value):
            skipped.append(f"{name} ({type(value).__name__})")
            continue
        new = name
        for p in prefixes:
            if new.startswith(p):
                new = new[len(p):]
        if any(re.search(x, new) for x in excludes):
            dropped.append(new)
            continue
        if new in out:
            sys.exit(f"error: {path}: two tensors are named '{new}' once prefixes are stripped")
        out[new] = value
    return out, skipped, dropped


def tensor_bytes(t):
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: same bits as int16
        t = t.view(torch.int16)
    try:
        return t.numpy().tobytes()
    except (RuntimeError, TypeError):  # torch built without numpy
        return bytes(t.reshape(-1).view(torch.uint8).tolist()) if t.numel() else b""


def write_safetensors(path, tensors, metadata):
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name in sorted(tensors):
        t = tensors[name]
        if t.dtype not in DTYPES:
            sys.exit(f"error: tensor '{name}' has dtype {t.dtype}, which safetensors cannot hold here")
        b = tensor_bytes(t)
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(h)))
            f.write(h)
            for b in blobs:
                f.write(b)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", help="PyTorch checkpoint (.pt, .pth, .pkl)")
    ap.add_argument("output", help="safetensors file to write")
    ap.add_argument("--key", help="entry holding the state dict (default: 'state_dict' or 'model' when present)")
    ap.add_argument("--strip-prefix", action="append", default=[], help="also strip this name prefix (repeatable)")
    ap.add_argument("--exclude", action="append", default=[], help="drop tensors whose name matches this regex (repeatable)")
    ap.add_argument("--trust-pickle", action="store_true", help="allow arbitrary pickled objects (only for trusted files)")
    ap.add_argument("--list", action="store_true", help="print every tensor's name, dtype and shape")
    args = ap.parse_args(argv)

    obj = load_checkpoint(args.input, args.trust_pickle)
    state, trail = find_state_dict(obj, args.key, args.input)
    tensors, skipped, dropped = clean_names(state, list(DEFAULT_PREFIXES) + args.strip_prefix, args.exclude, args.input)
    if not tensors:
        sys.exit(f"error: {args.input}: no tensors to write")
    write_safetensors(args.output, tensors, {"format": "pt", "source": os.path.basename(args.input)})
    if args.list:
        for name in sorted(tensors):
            print(f"{name}\t{DTYPES[tensors[name].dtype]}\t{list(tensors[name].shape)}")
    count = sum(t.numel() for t in tensors.values())
    where = f" (from '{'/'.join(trail)}')" if trail else ""
    print(f"{args.output}: {len(tensors)} tensors, {count:,} values{where}", file=sys.stderr)
    if skipped:
        print(f"skipped {len(skipped)} non-tensor entries: {', '.join(skipped)}", file=sys.stderr)
    if dropped:
        print(f"excluded {len(dropped)} tensors: {', '.join(dropped)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
