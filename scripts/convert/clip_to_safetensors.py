#!/usr/bin/env python3
"""Converts a CLIP checkpoint with a ViT image tower into a safetensors file that pesuite loads
strictly (vision/clip.h: load_clip), with OpenAI's parameter names.

    python3 scripts/convert/clip_to_safetensors.py ViT-B-32.pt ViT-B-32.safetensors
    python3 scripts/convert/clip_to_safetensors.py open_clip_pytorch_model.bin laion-b32.safetensors --activation gelu

Reads
  * OpenAI's released .pt files (TorchScript archives; their extra entries input_resolution,
    context_length and vocab_size are dropped) and plain OpenAI state dicts,
  * OpenCLIP checkpoints: a state dict, or a training checkpoint {"state_dict": ...}; 'module.'
    prefixes (DistributedDataParallel) are stripped; the CustomTextCLIP layout ('text.' in front of
    the text tower, text_projection as a bias-free Linear) is mapped back to OpenAI's names,
  * .safetensors files with either naming (read with numpy).
Writes every tensor under OpenAI's name (float32 by default), with the architecture in the
metadata: embed_dim, image_size, patch_size, vision_width / layers / heads, context_length,
vocab_size, text_width / layers / heads, mlp_ratio, activation.

The activation cannot be read from weights: OpenAI's models and OpenCLIP's "-quickgelu" ones use
QuickGELU (the default here); OpenCLIP models named without it (e.g. LAION's ViT-B-32) use exact
GELU: pass --activation gelu. Heads default to width / 64 (every OpenAI and OpenCLIP ViT).

Not supported (an error names the tensors): ResNet image towers, LayerScale (ls_1 / ls_2),
attentional pooling, timm or Hugging Face towers, SigLIP's logit_bias. A missing tensor or one
whose shape disagrees with the architecture read from the others is an error naming the tensor
and both shapes. Errors print `error: ...` and exit with status 2; nothing is half-written (the
file is written to a temporary and renamed). Needs numpy, and torch for .pt / .bin inputs.
"""
import argparse
import json
import math
import os
import re
import struct
import sys
import tempfile

import numpy as np


class ConvertError(Exception):
    pass


# ---- reading ------------------------------------------------------------------------------------

ST_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
             "U8": "u1", "BOOL": "?"}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ConvertError(f"{path}: not a safetensors file (too short)")
    (n,) = struct.unpack("<Q", raw[:8])
    try:
        header = json.loads(raw[8:8 + n])
    except ValueError as e:
        raise ConvertError(f"{path}: not a safetensors file ({e})")
    header.pop("__metadata__", None)
    data = raw[8 + n:]
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        buf = data[b:end]
        if e["dtype"] == "BF16":  # widen to float32 bit-exactly
            arr = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        elif e["dtype"] in ST_DTYPES:
            arr = np.frombuffer(buf, dtype=ST_DTYPES[e["dtype"]])
        else:
            raise ConvertError(f"{path}: tensor '{name}' has unsupported dtype {e['dtype']}")
        out[name] = arr.reshape(e["shape"])
    return out


def read_torch(path, allow_pickle):
    try:
        import torch
    except ImportError:
        raise ConvertError(f"{path}: reading .pt / .bin files needs torch (Debian: apt-get install python3-torch)")
    sd = None
    try:  # OpenAI's releases are TorchScript archives
        sd = torch.jit.load(path, map_location="cpu").state_dict()
    except Exception:
        pass
    if sd is None:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=not allow_pickle)
        except TypeError:  # torch < 1.13 has no weights_only
            obj = torch.load(path, map_location="cpu")
        except Exception as e:
            hint = "" if allow_pickle else " (if you trust the file, --allow-pickle loads arbitrary pickles)"
            raise ConvertError(f"{path}: cannot read the checkpoint: {e}{hint}")
        if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
            obj = obj["state_dict"]
        if hasattr(obj, "state_dict") and not isinstance(obj, dict):
            obj = obj.state_dict()
        if not isinstance(obj, dict):
            raise ConvertError(f"{path}: expected a state dict, got {type(obj).__name__}")
        sd = obj
    out = {}
    for k, v in sd.items():
        if not hasattr(v, "detach"):
            continue  # e.g. an int among the entries
        t = v.detach().cpu()
        if t.dtype == torch.bfloat16:
            t = t.float()
        out[k] = t.numpy()
    return out


def read_checkpoint(path, allow_pickle):
    if not os.path.exists(path):
        raise ConvertError(f"{path}: no such file")
    if path.endswith(".safetensors"):
        return read_safetensors(path)
    return read_torch(path, allow_pickle)


# ---- names --------------------------------------------------------------------------------------

DROPPED = {"input_resolution", "context_length", "vocab_size", "attn_mask", "text.attn_mask"}
UNSUPPORTED = [
    (re.compile(r"\.ls_[12]\."), "LayerScale (ls_1 / ls_2)"),
    (re.compile(r"^visual\.attn_pool"), "attentional pooling"),
    (re.compile(r"^visual\.(trunk|head)\."), "a timm image tower"),
    (re.compile(r"^visual\.(layer[1-4]|attnpool|bn1|conv2|conv3)"), "a ResNet image tower"),
    (re.compile(r"^visual\.patchnorm_pre_ln"), "dual patchnorm"),
    (re.compile(r"^text\.transformer\.(embeddings|encoder)"), "a Hugging Face text tower"),
    (re.compile(r"^logit_bias$"), "SigLIP's logit_bias"),
]


def to_openai_names(sd):
    """Strips 'module.', maps OpenCLIP's CustomTextCLIP layout back, drops OpenAI's extra entries."""
    out, unsupported = {}, {}
    for k, v in sd.items():
        while k.startswith("module."):
            k = k[len("module."):]
        if k in DROPPED or k.endswith(".attn_mask"):
            continue
        for rx, what in UNSUPPORTED:
            if rx.search(k):
                unsupported.setdefault(what, []).append(k)
        if k.startswith("text."):
            k = k[len("text."):]
            if k == "text_projection.weight":  # a bias-free Linear [E, W]: OpenAI keeps [W, E]
                k, v = "text_projection", np.ascontiguousarray(v.T)
            elif k == "text_projection.bias":
                unsupported.setdefault("a text projection with a bias", []).append("text." + k)
        if k in out:
            raise ConvertError(f"tensor '{k}' appears twice (under two namings)")
        out[k] = v
    if unsupported:
        raise ConvertError("not supported: " + "; ".join(f"{what} ({', '.join(sorted(keys)[:4])}"
                                                         f"{', ...' if len(keys) > 4 else ''})"
                                                         for what, keys in unsupported.items()))
    if "logit_scale" in out and np.shape(out["logit_scale"]) == (1,):
        out["logit_scale"] = np.asarray(out["logit_scale"]).reshape(())
    return out


# ---- architecture -------------------------------------------------------------------------------

def need(sd, name, rank):
    if name not in sd:
        raise ConvertError(f"tensor '{name}' is missing (not an OpenAI-named ViT CLIP state dict?)")
    if np.ndim(sd[name]) != rank:
        raise ConvertError(f"tensor '{name}' has shape {list(np.shape(sd[name]))}, expected {rank} dimensions")
    return np.shape(sd[name])


def count_layers(sd, prefix):
    found = set()
    for k in sd:
        if k.startswith(prefix):
            head = k[len(prefix):].split(".", 1)[0]
            if head.isdigit():
                found.add(int(head))
    if found and found != set(range(len(found))):
        raise ConvertError(f"layers under '{prefix}' are not numbered 0..{len(found) - 1}: {sorted(found)}")
    return len(found)


def architecture(sd, activation, vision_heads, text_heads):
    vw, chans, p, p2 = need(sd, "visual.conv1.weight", 4)
    if chans != 3 or p != p2:
        raise ConvertError(f"tensor 'visual.conv1.weight' has shape {[vw, chans, p, p2]}, expected [width, 3, patch, patch]")
    npos, _ = need(sd, "visual.positional_embedding", 2)
    grid = round(math.sqrt(npos - 1))
    if grid * grid + 1 != npos:
        raise ConvertError(f"tensor 'visual.positional_embedding' has {npos} rows, expected grid * grid + 1")
    tw, embed = need(sd, "text_projection", 2)
    ctx, _ = need(sd, "positional_embedding", 2)
    vocab, _ = need(sd, "token_embedding.weight", 2)
    hidden = need(sd, "visual.transformer.resblocks.0.mlp.c_fc.weight", 2)[0]
    arch = {
        "embed_dim": embed, "image_size": grid * p, "patch_size": p,
        "vision_width": vw, "vision_layers": count_layers(sd, "visual.transformer.resblocks."),
        "vision_heads": vision_heads or vw // 64,
        "context_length": ctx, "vocab_size": vocab, "text_width": tw,
        "text_layers": count_layers(sd, "transformer.resblocks."), "text_heads": text_heads or tw // 64,
        "mlp_ratio": hidden / vw, "activation": activation,
    }
    for key, width in (("vision_heads", vw), ("text_heads", tw)):
        if arch[key] <= 0 or width % arch[key]:
            raise ConvertError(f"width {width} does not split into {arch[key]} heads (pass --{key.replace('_', '-')})")
    return arch


def expected_shapes(a):
    """Every tensor of OpenAI's ViT CLIP with its shape (model.py's CLIP / VisionTransformer)."""
    vw, tw, E = a["vision_width"], a["text_width"], a["embed_dim"]
    grid = a["image_size"] // a["patch_size"]
    shapes = {
        "visual.conv1.weight": [vw, 3, a["patch_size"], a["patch_size"]],
        "visual.class_embedding": [vw], "visual.positional_embedding": [grid * grid + 1, vw],
        "visual.ln_pre.weight": [vw], "visual.ln_pre.bias": [vw],
        "visual.ln_post.weight": [vw], "visual.ln_post.bias": [vw], "visual.proj": [vw, E],
        "token_embedding.weight": [a["vocab_size"], tw], "positional_embedding": [a["context_length"], tw],
        "ln_final.weight": [tw], "ln_final.bias": [tw], "text_projection": [tw, E], "logit_scale": [],
    }

    def blocks(prefix, n, w):
        h = round(w * a["mlp_ratio"])
        for i in range(n):
            b = f"{prefix}{i}."
            shapes.update({
                b + "attn.in_proj_weight": [3 * w, w], b + "attn.in_proj_bias": [3 * w],
                b + "attn.out_proj.weight": [w, w], b + "attn.out_proj.bias": [w],
                b + "ln_1.weight": [w], b + "ln_1.bias": [w], b + "ln_2.weight": [w], b + "ln_2.bias": [w],
                b + "mlp.c_fc.weight": [h, w], b + "mlp.c_fc.bias": [h],
                b + "mlp.c_proj.weight": [w, h], b + "mlp.c_proj.bias": [w],
            })

    blocks("visual.transformer.resblocks.", a["vision_layers"], vw)
    blocks("transformer.resblocks.", a["text_layers"], tw)
    return shapes


def check_shapes(sd, arch):
    shapes = expected_shapes(arch)
    for name, shape in shapes.items():
        if name not in sd:
            raise ConvertError(f"tensor '{name}' is missing (expected shape {shape})")
        got = list(np.shape(sd[name]))
        if got != shape:
            raise ConvertError(f"tensor '{name}' has shape {got}, expected {shape} for this architecture")
    extra = sorted(set(sd) - set(shapes))
    if extra:
        raise ConvertError(f"unexpected tensor(s): {', '.join(extra[:6])}{' ...' if len(extra) > 6 else ''}")


# ---- writing ------------------------------------------------------------------------------------

def write_safetensors(path, tensors, metadata):
    names = {np.dtype(v): k for k, v in ST_DTYPES.items()}
    header, blobs, off = {"__metadata__": metadata}, [], 0
    for name in sorted(tensors):
        a = np.asarray(tensors[name], order="C")  # not ascontiguousarray: it turns 0-d into 1-d
        b = a.tobytes()
        header[name] = {"dtype": names[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".clip-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(h)))
            f.write(h)
            for b in blobs:
                f.write(b)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def convert(src, dst, dtype="float32", activation="quick_gelu", vision_heads=0, text_heads=0, allow_pickle=False):
    sd = to_openai_names(read_checkpoint(src, allow_pickle))
    arch = architecture(sd, activation, vision_heads, text_heads)
    check_shapes(sd, arch)
    out = {}
    for k, v in sd.items():
        v = np.asarray(v)
        if v.dtype.kind == "f" and dtype != "keep":
            v = v.astype(np.float32 if dtype == "float32" else np.float16)
        out[k] = v
    meta = {k: (repr(v) if isinstance(v, float) else str(v)) for k, v in arch.items()}
    meta["mlp_ratio"] = f"{arch['mlp_ratio']:.17g}"
    meta.update({"format": "pesuite-clip", "converted_from": os.path.basename(src)})
    write_safetensors(dst, out, meta)
    return arch


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", help="OpenAI .pt, OpenCLIP .pt / .bin, or .safetensors")
    ap.add_argument("output", help=".safetensors to write")
    ap.add_argument("--dtype", choices=["float32", "float16", "keep"], default="float32",
                    help="floating-point type of the written tensors (default float32; keep = as stored, bfloat16 -> float32)")
    ap.add_argument("--activation", choices=["quick_gelu", "gelu"], default="quick_gelu",
                    help="MLP activation (default quick_gelu: OpenAI, OpenCLIP *-quickgelu; gelu for the other OpenCLIP ViTs)")
    ap.add_argument("--vision-heads", type=int, default=0, help="image tower heads (default width / 64)")
    ap.add_argument("--text-heads", type=int, default=0, help="text tower heads (default width / 64)")
    ap.add_argument("--allow-pickle", action="store_true", help="load checkpoints that need full unpickling (trusted files only)")
    args = ap.parse_args(argv)
    try:
        arch = convert(args.input, args.output, args.dtype, args.activation, args.vision_heads, args.text_heads,
                       args.allow_pickle)
    except ConvertError as e:
        print(f"error: {args.input}: {e}" if not str(e).startswith(args.input) else f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}: " + ", ".join(f"{k}={v}" for k, v in arch.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
