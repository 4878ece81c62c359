#!/usr/bin/env python3
"""PyTorch eager reference for `pesuite bench vit`: the same timm-style ViTs (DeiT with a learned
absolute table, CPVT with a PEG after block 0), written in plain torch.nn (timm need not be
installed), AdamW(fused=True), bf16 autocast, F.scaled_dot_product_attention, random 224x224
images, 1000 classes. Prints one JSON line with the same keys as `pesuite bench vit --json`.

    python3 scripts/reference/bench_vit.py --model deit_tiny_patch16 --batch 256 --amp bf16 --device cuda
    python3 scripts/reference/bench_vit.py --model cpvt_tiny --compile            # torch.compile, default mode
    python3 scripts/reference/bench_vit.py --model cpvt_tiny --latency --compile  # batch 1, mode="reduce-overhead"

--compile compiles the model (torch.compile, default mode; with --latency mode="reduce-overhead",
CUDA graphs); the compilation happens in the warm-up steps and is reported as compile_s. Peak
GPU memory per phase (torch.cuda.max_memory_allocated) is reported as train_peak_mb / infer_peak_mb,
and train_forward_mb: what one more training forward leaves allocated for its backward (the saved
activations). --saved-tensors also lists them by shape and dtype on stderr (the autograd graph
walked from the loss: built-in nodes' _saved_* tensors, custom and compiled functions' saved_tensors).
--latency: batch 1, inference only, every call timed to its own synchronisation (median, ms).
--ddp (under torchrun): DistributedDataParallel(gradient_as_bucket_view=True), NCCL on CUDA, Gloo
on the CPU; --batch images per rank, rank 0 prints (train_img_s per rank, train_img_s_all_ranks
the world's), the reference for `pesuite --nproc N bench vit`:

    torchrun --nproc_per_node 2 scripts/reference/bench_vit.py --model deit_small_patch16 --ddp

Timing as the C++ side: `warmup` untimed steps, then `repeats` blocks of `steps` steps, each timed
between device synchronisations; the median block gives the figure. No host sync inside a block.
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# name -> (dim, heads, pe, depth, patch, in_chans), MLP ratio 4, class token, as vision/src/vit.cpp.
PRESETS = {
    "deit_tiny_patch16": (192, 3, "learned", 12, 16, 3),
    "deit_small_patch16": (384, 6, "learned", 12, 16, 3),
    "deit_base_patch16": (768, 12, "learned", 12, 16, 3),
    "cpvt_tiny": (192, 3, "peg", 12, 16, 3),
    "cpvt_small": (384, 6, "peg", 12, 16, 3),
    "cpvt_base": (768, 12, "peg", 12, 16, 3),
    # The Fashion-MNIST tables' model (grey 28 px images; pick the PE with --pe).
    "vit_tiny_patch4_28": (96, 3, "learned", 4, 4, 1),
}
# Before PyTorch 2.0 (Debian 12's python3-torch is 1.13) there is no fused attention: the same
# arithmetic written out, as a 1.13 user would.
HAS_SDPA = hasattr(F, "scaled_dot_product_attention")


def attention(q, k, v):
    if HAS_SDPA:
        return F.scaled_dot_product_attention(q, k, v)
    return torch.softmax((q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1), dim=-1) @ v


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        x = attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(B, N, C))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_ratio=4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class PEG(nn.Module):
    """CPVT's positional encoding generator: depthwise 3x3 conv (zero padding) + residual on the
    patch grid; the class token passes through."""

    def __init__(self, dim, k=3):
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, k, 1, k // 2, groups=dim, bias=True)

    def forward(self, x, h, w):
        cls, t = x[:, :1], x[:, 1:]
        B, P, C = t.shape
        g = t.transpose(1, 2).reshape(B, C, h, w)
        g = (g + self.conv(g)).flatten(2).transpose(1, 2)
        return torch.cat([cls, g], 1)


class ViT(nn.Module):
    def __init__(self, dim, heads, pe, depth=12, img=224, patch=16, classes=1000, in_chans=3):
        super().__init__()
        self.grid = img // patch
        self.patch_embed = nn.Conv2d(in_chans, dim, patch, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + self.grid ** 2, dim) * 0.02) if pe == "learned" else None
        self.peg = PEG(dim) if pe == "peg" else None
        self.blocks = nn.ModuleList([Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02, a=-0.04, b=0.04)
                nn.init.zeros_(m.bias)
        nn.init.trunc_normal_(self.cls_token, std=0.02, a=-0.04, b=0.04)

    def forward(self, images):
        x = self.patch_embed(images)
        h, w = x.shape[-2:]
        x = x.flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1)
        if self.pos_embed is not None:
            x = x + self.pos_embed
        for i, blk in enumerate(self.blocks):
            x = blk(x)
            if i == 0 and self.peg is not None:
                x = self.peg(x, h, w)
        return self.head(self.norm(x)[:, 0])


def param_groups(model, wd):
    # As pesuite's ViT: no decay for biases, norms, the class token and positional parameters.
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 or "pos_" in name or "peg" in name or name == "cls_token" else decay).append(p)
    return [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def timed_blocks(step, dev, warmup, repeats, steps):
    for _ in range(warmup):
        step()
    blocks = []
    for _ in range(repeats):
        sync(dev)
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        sync(dev)
        blocks.append(time.perf_counter() - t0)
    return blocks


def profile_steps(a, dev, phase, step):
    """As `pesuite bench vit --profile`: five more steps under the profiler, after timing."""
    if not a.profile:
        return
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(5):
            step()
        sync(dev)
    prof.export_chrome_trace(f"{a.profile}-{phase}.json")


def storage_of(t):
    return t.untyped_storage() if hasattr(t, "untyped_storage") else t.storage()  # 1.13: storage()


def saved_by_graph(root, params):
    """{storage pointer: (shape, dtype, bytes)} of the tensors the autograd graph under `root` holds
    for its backward, parameters left out."""
    found, seen, todo = {}, set(), [root]
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        tensors = []
        try:
            tensors += [t for t in getattr(node, "saved_tensors", ()) if torch.is_tensor(t)]
        except RuntimeError:
            pass
        for name in dir(node):
            if name.startswith("_saved_"):
                v = getattr(node, name, None)
                tensors += [v] if torch.is_tensor(v) else [t for t in (v if isinstance(v, (tuple, list)) else ()) if torch.is_tensor(t)]
        for t in tensors:
            storage = storage_of(t)
            ptr = storage.data_ptr()
            if ptr not in params and ptr not in found:
                found[ptr] = (tuple(t.shape), str(t.dtype).replace("torch.", ""), storage.nbytes())
        todo += [f for f, _ in node.next_functions]
    return found


def forward_saved(a, fwd, model, images, labels, autocast, amp_dtype, dev):
    """MiB one more training forward leaves allocated (CUDA); with --saved-tensors the saved tensors
    by shape and dtype on stderr."""
    if dev.type != "cuda":
        return 0.0
    torch.cuda.synchronize(dev)
    before = torch.cuda.memory_allocated(dev)
    with torch.autocast(dev.type, dtype=amp_dtype, enabled=autocast):
        logits = fwd(images)
    loss = F.cross_entropy(logits.float(), labels)
    torch.cuda.synchronize(dev)
    mb = (torch.cuda.memory_allocated(dev) - before) / 2 ** 20
    if a.saved_tensors:
        params = {storage_of(p).data_ptr() for p in model.parameters()}
        rows = {}
        for shape, dtype, nbytes in saved_by_graph(loss.grad_fn, params).values():
            n, b = rows.get((shape, dtype), (0, 0))
            rows[(shape, dtype)] = (n + 1, b + nbytes)
        total = sum(b for _, b in rows.values())
        print("saved for backward: %.1f MiB in %d tensors (allocated by the forward: %.1f MiB)" %
              (total / 2 ** 20, sum(n for n, _ in rows.values()), mb), file=sys.stderr)
        for (shape, dtype), (n, b) in sorted(rows.items(), key=lambda r: -r[1][1]):
            print("  %8.1f MiB  %3d x %s %s" % (b / 2 ** 20, n, dtype, list(shape)), file=sys.stderr)
    del loss, logits
    return mb


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="deit_tiny_patch16", choices=sorted(PRESETS))
    ap.add_argument("--pe", default="", choices=["", "learned", "peg", "none"], help="instead of the preset's")
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads (0: torch's default)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--amp", default="bf16", choices=["bf16", "fp16", "none"])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--img", type=int, default=224)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--no-fused-adamw", action="store_true")
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--skip-infer", action="store_true")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model (default mode; reduce-overhead with --latency)")
    ap.add_argument("--latency", action="store_true", help="batch-1 inference latency (median ms per call)")
    ap.add_argument("--profile", default="", help="also trace 5 steps per phase to PREFIX-train.json / PREFIX-infer.json")
    ap.add_argument("--saved-tensors", action="store_true", help="list what a training forward saves for backward (stderr)")
    ap.add_argument("--ddp", action="store_true", help="DistributedDataParallel under torchrun (RANK, WORLD_SIZE, LOCAL_RANK)")
    a = ap.parse_args()

    rank, world = 0, 1
    if a.ddp:
        import os
        import torch.distributed as dist
        if a.device.startswith("cuda"):
            a.device = "cuda:%d" % int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(torch.device(a.device))
        dist.init_process_group("nccl" if a.device.startswith("cuda") else "gloo")
        rank, world = dist.get_rank(), dist.get_world_size()

    if a.latency:
        a.batch, a.skip_train, a.skip_infer = 1, True, False
    dev = torch.device(a.device)
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    autocast = a.amp != "none" and dev.type == "cuda"
    # 1.13's CPU autocast rejects fp16 even when disabled: bf16 unless fp16 autocast really runs.
    amp_dtype = torch.float16 if a.amp == "fp16" and autocast else torch.bfloat16
    dim, heads, pe, depth, patch, in_chans = PRESETS[a.model]
    pe = a.pe or pe
    model = ViT(dim, heads, pe, depth=depth, img=a.img, patch=patch, classes=a.classes, in_chans=in_chans).to(dev)
    params = sum(p.numel() for p in model.parameters())
    # The compiled module shares the parameters; the optimiser and the parameter groups read `model`.
    fwd = model
    if a.ddp:  # DDP first, then compile, as PyTorch's DDP + torch.compile docs do it
        fwd = torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None,
                                                        gradient_as_bucket_view=True)
    if a.compile:
        fwd = torch.compile(fwd, mode="reduce-overhead" if a.latency else None)

    def reset_peak():
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)

    def peak_mb():
        return torch.cuda.max_memory_allocated(dev) / 2 ** 20 if dev.type == "cuda" else 0.0

    compile_s = 0.0
    images = torch.randn(a.batch, in_chans, a.img, a.img, device=dev)
    labels = torch.randint(0, a.classes, (a.batch,), device=dev)

    train_blocks, infer_blocks, mean_loss, fused, train_forward = [], [], 0.0, False, 0.0
    train_peak, infer_peak, latency_ms = 0.0, 0.0, 0.0
    if not a.skip_train:
        fused = not a.no_fused_adamw and dev.type == "cuda"
        extra = {"fused": True} if fused else {}  # the keyword is new in 2.0: left out otherwise
        opt = torch.optim.AdamW(param_groups(model, a.weight_decay), lr=a.lr, betas=(0.9, 0.999), eps=1e-8, **extra)
        model.train()
        loss_sum = torch.zeros((), device=dev)

        def train_step():
            opt.zero_grad(set_to_none=True)
            with torch.autocast(dev.type, dtype=amp_dtype, enabled=autocast):
                logits = fwd(images)
            loss = F.cross_entropy(logits.float(), labels)
            loss.backward()
            opt.step()
            loss_sum.add_(loss.detach())

        reset_peak()
        if a.compile:  # the first call compiles: timed apart, not part of the figure
            t0 = time.perf_counter()
            train_step()
            sync(dev)
            compile_s += time.perf_counter() - t0
        train_blocks = timed_blocks(train_step, dev, a.warmup, a.repeats, a.steps)
        train_peak = peak_mb()
        profile_steps(a, dev, "train", train_step)
        train_forward = forward_saved(a, fwd, model, images, labels, autocast, amp_dtype, dev)
        mean_loss = loss_sum.item() / (a.warmup + a.repeats * a.steps)

    if not a.skip_infer:
        model.eval()
        out_sum = torch.zeros((), device=dev)

        def infer_step():
            with torch.inference_mode(), torch.autocast(dev.type, dtype=amp_dtype, enabled=autocast):
                out_sum.add_(fwd(images)[:, 0].sum().float())

        reset_peak()
        if a.compile:
            t0 = time.perf_counter()
            infer_step()
            sync(dev)
            compile_s += time.perf_counter() - t0
        if a.latency:
            for _ in range(a.warmup):
                infer_step()
            calls = []
            for _ in range(a.steps * a.repeats):
                sync(dev)
                t0 = time.perf_counter()
                infer_step()
                sync(dev)
                calls.append((time.perf_counter() - t0) * 1000.0)
            latency_ms = statistics.median(calls)
        else:
            infer_blocks = timed_blocks(infer_step, dev, a.warmup, a.repeats, a.steps)
        infer_peak = peak_mb()
        profile_steps(a, dev, "infer", infer_step)
        out_sum.item()

    ips = lambda blocks: a.batch * a.steps / statistics.median(blocks) if blocks else 0.0
    if a.ddp:
        torch.distributed.destroy_process_group()
    if rank != 0:
        return 0
    print(json.dumps({
        "framework": "pytorch", "model": a.model, "pe": pe, "threads": torch.get_num_threads(), "torch": torch.__version__,
        "device": str(dev),
        "amp": a.amp if autocast else "none", "batch": a.batch, "img": a.img, "params": params,
        "steps": a.steps, "repeats": a.repeats, "fused_adamw": fused, "sdpa_kernel": HAS_SDPA,
        "world_size": world, "ddp": a.ddp,
        "train_img_s": ips(train_blocks), "train_img_s_all_ranks": ips(train_blocks) * world, "infer_img_s": ips(infer_blocks),
        "train_block_s": train_blocks, "infer_block_s": infer_blocks, "mean_loss": mean_loss,
        "compiled": a.compile, "compile_mode": ("reduce-overhead" if a.latency else "default") if a.compile else "none",
        "compile_s": compile_s, "train_peak_mb": train_peak, "infer_peak_mb": infer_peak,
        **({"train_forward_mb": train_forward} if not a.skip_train else {}),
        **({"latency_ms": latency_ms, "infer_img_s": 1000.0 / latency_ms if latency_ms > 0 else 0.0} if a.latency else {}),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
