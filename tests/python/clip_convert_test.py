#!/usr/bin/env python3
"""Converter round trip for CLIP: a randomly initialised state dict with OpenAI's names and
shapes is written the way the real checkpoints are stored, converted with
scripts/convert/clip_to_safetensors.py, loaded strictly by pesuite (clip_convert_check, C++), and
pesuite's image and text embeddings are compared with a reference forward written here in torch.

    clip_convert_test.py --work DIR --converter scripts/convert/clip_to_safetensors.py --check build/tests/clip_convert_check

Cases: ViT-B/32 as OpenAI's release stores it (fp16 state dict); a small model as an OpenCLIP
training checkpoint ({"state_dict": ...}, 'module.' prefixes, CustomTextCLIP's 'text.' layout with
a Linear text projection, exact GELU); the same small model as a TorchScript archive with OpenAI's
extra entries; and the converter's errors (a mis-shaped tensor, a missing one, LayerScale).
Needs Debian's python3-torch and python3-numpy.
"""
import argparse
import os
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_numpy  # noqa: E402


# ---- reference CLIP (the semantics of openai/CLIP's model.py, ViT image tower) ----------------------

class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class Block(nn.Module):
    def __init__(self, width, heads, gelu, mask=None):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(width, 4 * width)),
                                              ("gelu", nn.GELU() if gelu else QuickGELU()),
                                              ("c_proj", nn.Linear(4 * width, width))]))
        self.ln_2 = nn.LayerNorm(width)
        self.mask = mask  # a plain attribute: not in the state dict, as in OpenAI's model

    def forward(self, x):  # [L, N, D], sequence first as nn.MultiheadAttention
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=self.mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, layers, heads, gelu, mask=None):
        super().__init__()
        self.resblocks = nn.Sequential(*[Block(width, heads, gelu, mask) for _ in range(layers)])

    def forward(self, x):
        return self.resblocks(x)


class Visual(nn.Module):
    def __init__(self, image, patch, width, layers, heads, embed, gelu):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, patch, stride=patch, bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(width))
        self.positional_embedding = nn.Parameter(torch.zeros((image // patch) ** 2 + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, layers, heads, gelu)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.zeros(width, embed))

    def forward(self, x):
        x = self.conv1(x).flatten(2).permute(0, 2, 1)
        cls = self.class_embedding.expand(x.shape[0], 1, -1)
        x = self.ln_pre(torch.cat([cls, x], 1) + self.positional_embedding)
        x = self.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
        return self.ln_post(x[:, 0]) @ self.proj


class RefClip(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.visual = Visual(c["image"], c["patch"], c["vw"], c["vl"], c["vw"] // 64, c["embed"], c["gelu"])
        mask = torch.full((c["ctx"], c["ctx"]), float("-inf")).triu(1)
        self.transformer = Transformer(c["tw"], c["tl"], c["tw"] // 64, c["gelu"], mask)
        self.token_embedding = nn.Embedding(c["vocab"], c["tw"])
        self.positional_embedding = nn.Parameter(torch.zeros(c["ctx"], c["tw"]))
        self.ln_final = nn.LayerNorm(c["tw"])
        self.text_projection = nn.Parameter(torch.zeros(c["tw"], c["embed"]))
        self.logit_scale = nn.Parameter(torch.tensor(2.6592))

    def encode_text(self, text):
        x = self.token_embedding(text) + self.positional_embedding
        x = self.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0]), text.argmax(dim=-1)] @ self.text_projection

    def forward(self, image, text):
        return self.visual(image), self.encode_text(text)


def randomize(model, seed):
    """Every parameter random: weights ~ N(0, 1 / fan in), norms near 1, biases and tables small."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=g)
            if name.endswith(("ln_1.weight", "ln_2.weight", "ln_pre.weight", "ln_post.weight", "ln_final.weight")):
                p.copy_(1 + 0.1 * r)
            elif name.endswith("bias"):
                p.copy_(0.1 * r)
            elif name in ("visual.class_embedding", "visual.positional_embedding", "positional_embedding",
                          "token_embedding.weight"):
                p.copy_(0.5 * r)
            elif name == "logit_scale":
                p.fill_(4.6052)
            elif name in ("visual.proj", "text_projection"):  # [width, embed]
                p.copy_(r / p.shape[0] ** 0.5)
            else:  # Linear [out, in], in_proj [3 W, W], conv1 [W, 3, p, p]: fan in = one row's size
                p.copy_(r / p[0].numel() ** 0.5)


B32 = dict(embed=512, image=224, patch=32, vw=768, vl=12, tw=512, tl=12, ctx=77, vocab=49408, gelu=False)
SMALL = dict(embed=48, image=48, patch=8, vw=128, vl=2, tw=64, tl=2, ctx=16, vocab=1000, gelu=True)


def inputs(c, seed):
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(2, 3, c["image"], c["image"], generator=g)
    tokens = torch.zeros(3, c["ctx"], dtype=torch.int64)
    sot, eot = c["vocab"] - 2, c["vocab"] - 1
    for i, n in enumerate((5, 9, c["ctx"] - 2)):
        tokens[i, 0] = sot
        tokens[i, 1:n + 1] = torch.randint(0, c["vocab"] - 2, (n,), generator=g)
        tokens[i, n + 1] = eot
    return images, tokens


def reference(model, images, tokens, path):
    with torch.no_grad():
        img, txt = model(images, tokens)
    safetensors_numpy.save(path, {"images": images.numpy(), "tokens": tokens.numpy(),
                                  "image_embeds": img.numpy(), "text_embeds": txt.numpy()})


def run(cmd, expect_ok=True):
    p = subprocess.run(cmd, capture_output=True, text=True)
    sys.stdout.write(p.stdout)
    sys.stderr.write(p.stderr)
    if expect_ok and p.returncode != 0:
        sys.exit(f"FAILED ({p.returncode}): {' '.join(cmd)}")
    return p


def expect_error(args, converter, *fragments):
    p = run([sys.executable, converter] + args, expect_ok=False)
    if p.returncode != 2 or not p.stderr.startswith("error: "):
        sys.exit(f"FAILED: converter should exit 2 with 'error: ...', got {p.returncode}: {p.stderr}")
    for f in fragments:
        if f not in p.stderr:
            sys.exit(f"FAILED: converter error lacks '{f}': {p.stderr}")
    if os.path.exists(args[1]):
        sys.exit(f"FAILED: converter left {args[1]} behind after an error")
    print(f"ok: converter refused with: {p.stderr.strip()}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--converter", required=True)
    ap.add_argument("--check", required=True, help="clip_convert_check executable")
    a = ap.parse_args()
    w = lambda name: os.path.join(a.work, name)  # noqa: E731
    py = sys.executable
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))

    # 1. ViT-B/32, stored as OpenAI's release: an fp16 state dict. The reference runs in float32 on
    #    the same (fp16-rounded) values that the converter writes as float32.
    torch.manual_seed(0)
    model = RefClip(B32)
    randomize(model, 0)
    model.half()
    torch.save(model.state_dict(), w("b32.pt"))
    model.float()
    images, tokens = inputs(B32, 1)
    reference(model, images, tokens, w("b32_ref.safetensors"))
    del model
    run([py, a.converter, w("b32.pt"), w("b32.safetensors")])
    run([a.check, w("b32.safetensors"), w("b32_ref.safetensors"), "ViT-B/32"])
    for f in ("b32.pt", "b32.safetensors"):
        os.unlink(w(f))

    # 2. A small model as an OpenCLIP training checkpoint (CustomTextCLIP layout, DDP prefixes, GELU).
    small = RefClip(SMALL)
    randomize(small, 2)
    images, tokens = inputs(SMALL, 3)
    reference(small, images, tokens, w("small_ref.safetensors"))
    sd = OrderedDict()
    for k, v in small.state_dict().items():
        if not k.startswith("visual.") and k != "logit_scale":
            k = "text." + k
        if k == "text.text_projection":
            k, v = "text.text_projection.weight", v.t().contiguous()
        sd["module." + k] = v
    sd["module.logit_scale"] = sd["module.logit_scale"].reshape(1)
    torch.save({"epoch": 3, "name": "small", "state_dict": sd}, w("openclip.pt"))
    run([py, a.converter, w("openclip.pt"), w("openclip.safetensors"), "--activation", "gelu", "--vision-heads", "2",
         "--text-heads", "1"])
    run([a.check, w("openclip.safetensors"), w("small_ref.safetensors"), "-"])

    # 3. The same model as a TorchScript archive carrying OpenAI's extra entries.
    small.register_buffer("input_resolution", torch.tensor(SMALL["image"]))
    small.register_buffer("context_length", torch.tensor(SMALL["ctx"]))
    small.register_buffer("vocab_size", torch.tensor(SMALL["vocab"]))
    with torch.no_grad():
        traced = torch.jit.trace(small, (images, tokens), check_trace=False)
    traced.save(w("jit.pt"))
    run([py, a.converter, w("jit.pt"), w("jit.safetensors"), "--activation", "gelu", "--vision-heads", "2",
         "--text-heads", "1", "--dtype", "keep"])
    run([a.check, w("jit.safetensors"), w("small_ref.safetensors"), "-"])

    # 4. Errors: a mis-shaped tensor, a missing one, LayerScale; none leaves an output behind.
    good = {k: v.numpy() for k, v in small.state_dict().items() if k not in ("input_resolution", "context_length", "vocab_size")}
    bad = dict(good)
    bad["visual.transformer.resblocks.1.mlp.c_fc.weight"] = np.zeros((512, 127), np.float32)
    safetensors_numpy.save(w("misshaped.safetensors"), bad)
    expect_error([w("misshaped.safetensors"), w("out1.safetensors"), "--vision-heads", "2", "--text-heads", "1"], a.converter,
                 "visual.transformer.resblocks.1.mlp.c_fc.weight", "[512, 127]", "[512, 128]")
    bad = dict(good)
    del bad["transformer.resblocks.0.ln_2.bias"]
    safetensors_numpy.save(w("missing.safetensors"), bad)
    expect_error([w("missing.safetensors"), w("out2.safetensors"), "--vision-heads", "2", "--text-heads", "1"], a.converter,
                 "transformer.resblocks.0.ln_2.bias", "missing")
    bad = dict(good)
    bad["visual.transformer.resblocks.0.ls_1.gamma"] = np.ones(128, np.float32)
    safetensors_numpy.save(w("layerscale.safetensors"), bad)
    expect_error([w("layerscale.safetensors"), w("out3.safetensors")], a.converter, "LayerScale")
    expect_error([w("nothing-here.pt"), w("out4.safetensors")], a.converter, "no such file")
    print("clip converter: all cases passed")


if __name__ == "__main__":
    main()
