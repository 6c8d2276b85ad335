#!/usr/bin/env python3
"""Train moodbox's FER2013 emotion CNN, export it to ONNX and quantize it to int8.

One command regenerates the shipped model (see models/training/README.md):

    python models/training/train.py                # train (or continue) + export + quantize
    python models/training/train.py --resume       # continue from the last epoch checkpoint
    python models/training/train.py --export-only  # re-export the best checkpoint

Rules kept here: train on `Training`, select on `PublicTest` only, never look at anything else.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gzip
import hashlib
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEFAULT_CSV = REPO.parent / "shared" / "data" / "fer2013" / "fer2013-train-publictest.csv.gz"
LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
SIZE = 48
# Normalisation the Rust side must repeat exactly: x = (pixel / 255 - MEAN) / STD.
MEAN, STD = 0.5, 0.25


# ----------------------------------------------------------------------------- data
def load_split(csv_path: Path, cache_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Parse the Kaggle-schema CSV once and cache it as uint8 arrays."""
    cache = cache_dir / "fer2013.npz"
    if cache.exists():
        z = np.load(cache)
        return {u: (z[f"{u}_x"], z[f"{u}_y"]) for u in ("Training", "PublicTest")}
    if not csv_path.exists():
        sys.exit(f"{csv_path}: not found (see ../shared/data/README.md)")
    xs: dict[str, list] = {"Training": [], "PublicTest": []}
    ys: dict[str, list] = {"Training": [], "PublicTest": []}
    with gzip.open(csv_path, "rt", newline="") as f:
        for line_no, row in enumerate(csv.DictReader(f), start=2):
            usage = row["Usage"]
            if usage not in xs:
                continue
            pixels = np.array(row["pixels"].split(), dtype=np.uint8)
            if pixels.size != SIZE * SIZE:
                sys.exit(f"{csv_path}:{line_no}: expected {SIZE*SIZE} pixels, got {pixels.size}")
            xs[usage].append(pixels.reshape(SIZE, SIZE))
            ys[usage].append(int(row["emotion"]))
    out = {u: (np.stack(xs[u]), np.array(ys[u], dtype=np.int64)) for u in xs}
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **{f"{u}_x": v[0] for u, v in out.items()}, **{f"{u}_y": v[1] for u, v in out.items()})
    return out


def normalise(x_u8: torch.Tensor) -> torch.Tensor:
    return (x_u8.float().unsqueeze(1) / 255.0 - MEAN) / STD


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Batch augmentation on normalised images: flip, rotate, scale, shift, random erasing."""
    n = x.shape[0]
    angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(12)
    scale = 1 + (torch.rand(n, generator=gen) * 2 - 1) * 0.12
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * (5 / 24)  # +-5 px in [-1,1] coords
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos * flip, -sin, shift[:, 0]], 1), torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1
    ).to(x.device)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    fill = (0.0 - MEAN) / STD
    x = F.grid_sample(x - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + fill
    # Random erasing (Zhong et al. 2017): one box of noise per image, half of the images.
    area = SIZE * SIZE * (0.02 + torch.rand(n, generator=gen) * 0.2)
    ratio = torch.exp((torch.rand(n, generator=gen) * 2 - 1) * math.log(3))
    h = torch.sqrt(area * ratio).round().clamp(1, SIZE)
    w = torch.sqrt(area / ratio).round().clamp(1, SIZE)
    top = (torch.rand(n, generator=gen) * (SIZE - h + 1)).floor()
    left = (torch.rand(n, generator=gen) * (SIZE - w + 1)).floor()
    erase = torch.rand(n, generator=gen) < 0.5
    pos = torch.arange(SIZE, dtype=torch.float32)
    rows = (pos >= top[:, None]) & (pos < (top + h)[:, None])
    cols = (pos >= left[:, None]) & (pos < (left + w)[:, None])
    box = (rows[:, :, None] & cols[:, None, :] & erase[:, None, None]).unsqueeze(1).to(x.device)
    noise = torch.randn(x.shape, generator=gen).to(x.device)
    x = torch.where(box, noise, x)
    return x


def cutmix(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator, p: float):
    """CutMix (Yun et al. 2019), on a batch with probability p: one box, the same in every
    image, replaced by that box of another image of the batch. Returns the images, both
    labels and the weight of the first (the share of the image it keeps). With p = 0 it
    draws nothing from `gen`, so runs without it repeat exactly."""
    if p <= 0 or torch.rand(1, generator=gen).item() >= p:
        return x, y, y, 1.0
    side = round(SIZE * math.sqrt(1 - torch.rand(1, generator=gen).item()))  # area ~ U(0, 1)
    cy, cx = torch.randint(SIZE, (2,), generator=gen).tolist()
    top, bottom = max(cy - side // 2, 0), min(cy + (side + 1) // 2, SIZE)
    left, right = max(cx - side // 2, 0), min(cx + (side + 1) // 2, SIZE)
    perm = torch.randperm(len(x), generator=gen).to(x.device)
    x = x.clone()
    x[:, :, top:bottom, left:right] = x[perm, :, top:bottom, left:right]
    return x, y, y[perm], 1 - (bottom - top) * (right - left) / (SIZE * SIZE)


# ----------------------------------------------------------------------------- model
def conv_bn(cin: int, cout: int, k: int = 3, pad: int = 1, stride: int = 1) -> nn.Sequential:
    conv = nn.Conv2d(cin, cout, k, stride=stride, padding=pad, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


# Feature extractors as (channels as a multiple of --width, stride[, kernel, padding]) per conv
# (default a padded 3x3); "M" is a 2x2 max-pool. The head's conv spans the final map.
ARCHS = {
    # VGG: two convs per stage, max-pool between (48->24->12->6->3). 118 M MACs at width 32.
    "vgg8": [(1, 1), (1, 1), "M", (2, 1), (2, 1), "M", (4, 1), (4, 1), "M", (8, 1), (8, 1), "M"],
    # Shaped for tract's int8 on ARM (cross/README.md): strided convs instead of the pools,
    # no wide conv at 48x48 where int8 im2col costs more than the matmul saves, and the
    # compute moved to 12x12 and 6x6 where channels are many. 139 M MACs at width 32.
    "s2": [(1, 1), (2, 2), (2, 1), (4, 2), (4, 1), (4, 1), (8, 2), (8, 1), (8, 1), "M"],
    # p8: the int8 convs run on 8x8 and 4x4 maps, whose rows never straddle the 8-wide
    # panels of tract's int8 packing (cross/README.md); 48->24->12 stays in f32
    # (--f32-convs 2). 152 M MACs at width 32.
    "p8": [(1, 1), (1, 2), (4, 2), (4, 1, 5, 0), (8, 1), (8, 1), (8, 1), "M", (8, 1), (8, 1)],
}
# Convs an architecture leaves in f32 in its int8 export unless --f32-convs says otherwise.
F32_CONVS = {"p8": 2}


class EmotionNet(nn.Module):
    """A plain conv net (see ARCHS), then a conv over the whole final map and a 1x1 conv to 7
    logits. Every layer is a Conv, so the int8 export is integer end to end in tract (no
    QGemm / QLinearGlobalAveragePool)."""

    def __init__(self, width: int = 32, arch: str = "vgg8", classes: int = 7, dropout: float = 0.3):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 1
        for item in ARCHS[arch]:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                mult, stride, k, pad = (*item, 3, 1) if len(item) == 2 else item
                layers.append(conv_bn(cin, mult * width, k=k, pad=pad, stride=stride))
                cin = mult * width
        self.features = nn.Sequential(*layers)
        side = self.features(torch.zeros(1, 1, SIZE, SIZE)).shape[-1]
        self.head = nn.Sequential(conv_bn(cin, cin, k=side, pad=0), nn.Dropout(dropout), nn.Conv2d(cin, classes, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.head(self.features(x)), 1)


def fused_for_export(model: EmotionNet) -> nn.Module:
    """Fold every BatchNorm into its conv (eval mode) so the exported graph is Conv+Relu only."""
    import copy

    from torch.nn.utils.fusion import fuse_conv_bn_eval

    m = copy.deepcopy(model).eval()
    for seq in [m.features, m.head]:
        for block in seq:
            if isinstance(block, nn.Sequential) and isinstance(block[0], nn.Conv2d):
                block[0] = fuse_conv_bn_eval(block[0], block[1])
                block[1] = nn.Identity()
    return m


def count_macs(model: nn.Module) -> int:
    macs = 0

    def hook(mod, _inp, out):
        nonlocal macs
        macs += out.numel() // out.shape[0] * mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 1, SIZE, SIZE, device=next(model.parameters()).device))
    for h in hs:
        h.remove()
    return macs


# ----------------------------------------------------------------------------- train / eval
@torch.no_grad()
def predict(model: nn.Module, x_u8: np.ndarray, flip_tta: bool = False, batch: int = 512) -> np.ndarray:
    model.eval()
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(x_u8), batch):
        x = normalise(torch.from_numpy(x_u8[i : i + batch]).to(device))
        p = F.softmax(model(x).float(), 1)
        if flip_tta:
            p = (p + F.softmax(model(torch.flip(x, dims=[3])).float(), 1)) / 2
        out.append(p.cpu().numpy())
    return np.concatenate(out)


def accuracy(probs: np.ndarray, y: np.ndarray) -> float:
    return float((probs.argmax(1) == y).mean())


def macro_f1(probs: np.ndarray, y: np.ndarray) -> float:
    pred = probs.argmax(1)
    f1s = []
    for c in range(len(LABELS)):
        tp = np.sum((pred == c) & (y == c))
        p = tp / max(1, np.sum(pred == c))
        r = tp / max(1, np.sum(y == c))
        f1s.append(0.0 if p + r == 0 else 2 * p * r / (p + r))
    return float(np.mean(f1s))


class Ema:
    """Exponential moving average of the weights and BN statistics (Polyak averaging), with
    the usual warm-up of the decay so the average is useful from the first epochs."""

    def __init__(self, model: nn.Module, decay: float):
        import copy

        self.model = copy.deepcopy(model).eval()
        self.decay = decay
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        pairs = list(zip(self.model.state_dict().values(), model.state_dict().values()))
        floats = [(e, v) for e, v in pairs if e.dtype.is_floating_point]
        # One fused call per list instead of two kernels per tensor (matters on a GPU).
        torch._foreach_lerp_([e for e, _ in floats], [v for _, v in floats], 1 - d)
        for e, v in pairs:
            if not e.dtype.is_floating_point:
                e.copy_(v)


def load_best(path: Path) -> tuple[EmotionNet, dict]:
    """A RUN/best.pt as the network it holds (on the CPU), and the checkpoint."""
    ck = torch.load(path, weights_only=False, map_location="cpu")
    model = EmotionNet(ck["width"], ck.get("arch", "vgg8"))
    model.load_state_dict(ck["model"])
    return model, ck


class Teachers:
    """An ensemble of trained checkpoints whose averaged, softened predictions the student
    learns from (knowledge distillation, Hinton et al. 2015). Each teacher sees the
    student's augmented batch and its mirror image, so the targets follow the augmentation."""

    def __init__(self, paths: list[Path], device: torch.device):
        self.models = [load_best(p)[0].to(device, memory_format=torch.channels_last).eval() for p in paths]
        self.names = [str(p) for p in paths]

    @torch.no_grad()
    def probs(self, x: torch.Tensor, temp: float, bf16: bool) -> torch.Tensor:
        both = torch.cat([x, torch.flip(x, dims=[3])]).contiguous(memory_format=torch.channels_last)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = torch.stack([m(both).float() for m in self.models])
        # [teacher, view, image, class] -> the mean over teachers and views
        return F.softmax(logits / temp, 2).view(len(self.models), 2, len(x), -1).mean((0, 1))


# ----------------------------------------------------------------------------- int8 fine-tuning
class FakeQuantConv(nn.Conv2d):
    """A BatchNorm-folded conv whose weights are rounded to per-tensor symmetric int8 in the
    forward pass, as the exported QLinearConv holds them (straight-through gradients)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        scale = w.detach().abs().max().clamp_min(1e-12) / 127
        return self._conv_forward(x, w + ((w / scale).round().clamp(-127, 127) * scale - w).detach(), self.bias)


class FakeQuantAct(nn.Module):
    """An activation rounded to uint8 over the range that the exporter's MinMax calibration
    gives it (set by calibrate_qat; the range always holds 0, as onnxruntime's does)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("lo", torch.zeros(()))
        self.register_buffer("hi", torch.ones(()))
        self.observing = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.observing:
            self.lo, self.hi = torch.minimum(self.lo, x.min()), torch.maximum(self.hi, x.max())
            return x
        scale = ((self.hi - self.lo) / 255).clamp_min(1e-12)
        zero = (-self.lo / scale).round().to(torch.int32)
        return torch.fake_quantize_per_tensor_affine(x.float(), scale.float(), zero, 0, 255)


def to_qat(model: EmotionNet) -> nn.Sequential:
    """The network as the int8 export will run it: BatchNorm folded, int8 weights, and a uint8
    rounding of the input, of every Relu's output (MaxPool keeps its input's) and of the logits."""
    layers: list[nn.Module] = [FakeQuantAct()]
    fused = fused_for_export(model).train()
    for block in [*fused.features, *fused.head]:
        for m in block if isinstance(block, nn.Sequential) else [block]:
            if isinstance(m, nn.Conv2d):
                q = FakeQuantConv(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding)
                q.load_state_dict(m.state_dict())
                m = q
            if not isinstance(m, nn.Identity):
                layers.append(m)
            if isinstance(m, nn.ReLU):
                layers.append(FakeQuantAct())
    return nn.Sequential(*layers, FakeQuantAct(), nn.Flatten())


def from_qat(qat: nn.Sequential, width: int, arch: str) -> dict:
    """An EmotionNet state dict holding the fine-tuned weights: each BatchNorm an identity
    carrying its conv's bias, so fused_for_export gives back exactly the fine-tuned convs."""
    net = EmotionNet(width, arch)
    convs = iter(m for m in qat if isinstance(m, FakeQuantConv))
    with torch.no_grad():
        for block in [*net.features, *net.head]:
            if isinstance(block, nn.Sequential) and isinstance(block[0], nn.Conv2d):
                q, bn = next(convs), block[1]
                block[0].weight.copy_(q.weight)
                bn.weight.fill_(1)
                bn.bias.copy_(q.bias)
                bn.running_mean.zero_()
                bn.running_var.fill_(1 - bn.eps)
            elif isinstance(block, nn.Conv2d):
                q = next(convs)
                block.weight.copy_(q.weight)
                block.bias.copy_(q.bias)
    return net.state_dict()


@torch.no_grad()
def calibrate_qat(model: nn.Module, calib_u8: np.ndarray) -> None:
    """MinMax ranges of every FakeQuantAct over the calibration images, unrounded as the
    exporter sees them."""
    acts = [m for m in model.modules() if isinstance(m, FakeQuantAct)]
    for a in acts:
        a.lo.zero_()
        a.hi.zero_()
        a.observing = True
    predict(model, calib_u8)
    for a in acts:
        a.observing = False


def calibration_images(xtr: np.ndarray, n: int) -> np.ndarray:
    """The training images that calibrate int8, the same for fine-tuning and export."""
    return xtr[np.random.default_rng(1).choice(len(xtr), n, replace=False)]


def lr_at(step: int, total: int, warmup: int, peak: float) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * t))


def train(args, data, run: Path) -> None:
    xtr, ytr = data["Training"]
    xva, yva = data["PublicTest"]
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    # channels_last + bf16 autocast: ~1.5x faster on AVX512-BF16 CPUs, same accuracy.
    if args.qat:
        if not args.init_from:
            sys.exit("--qat fine-tunes trained weights: pass --init-from")
        net, ck = load_best(args.init_from)
        args.width, args.arch, args.bf16 = ck["width"], ck.get("arch", "vgg8"), False  # bf16 would blur the rounding
        model, calib = to_qat(net), calibration_images(xtr, args.calib)
    else:
        model, calib = EmotionNet(args.width, args.arch), None
    model = model.to(device, memory_format=torch.channels_last)
    ema = Ema(model, args.ema)
    # sqrt-inverse-frequency class weights: keeps rare disgust from collapsing without
    # trading much accuracy on the common classes.
    freq = np.bincount(ytr, minlength=len(LABELS)).astype(np.float64)
    cw = torch.tensor((freq.sum() / freq) ** 0.5, dtype=torch.float32)
    cw = cw / (cw * torch.tensor(freq / freq.sum(), dtype=torch.float32)).sum()
    criterion = nn.CrossEntropyLoss(weight=cw.to(device), label_smoothing=args.label_smoothing)
    teachers = Teachers(args.teacher, device) if args.teacher else None
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim == 1 else decay).append(p)
    opt = torch.optim.SGD(
        [{"params": decay, "weight_decay": args.wd}, {"params": no_decay, "weight_decay": 0}],
        lr=args.lr,
        momentum=0.9,
        nesterov=True,
    )
    steps_per_epoch = len(xtr) // args.batch
    total = steps_per_epoch * args.epochs
    start_epoch, best, elapsed = 0, -1.0, 0.0
    gen = torch.Generator().manual_seed(args.seed)
    last = run / "last.pt"
    if args.resume and last.exists():
        ck = torch.load(last, weights_only=False, map_location=device)
        model.load_state_dict(ck["model"])
        ema.model.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["opt"])
        gen.set_state(ck["gen"].cpu())
        start_epoch, best, elapsed = ck["epoch"], ck["best"], ck["elapsed"]
        print(f"resumed from {last} at epoch {start_epoch}, best PublicTest {best:.4f}", flush=True)
    elif last.exists() and not args.resume:
        sys.exit(f"{last} exists: pass --resume to continue it, or --run to start a new run")
    elif args.init_from:
        # A new learning-rate cycle from trained weights (an SGDR warm restart), not a resume.
        if not args.qat:  # --qat loaded them above, into to_qat
            ck = torch.load(args.init_from, weights_only=False, map_location=device)
            model.load_state_dict(ck["model"])
            ema.model.load_state_dict(ck["model"])
        print(f"starting from the weights in {args.init_from} (epoch {ck['epoch']})", flush=True)
    log_path = run / "log.csv"
    if start_epoch == 0:
        log_path.write_text("epoch,lr,train_loss,train_acc,publictest_acc,publictest_acc_ema,seconds\n")
    print(f"model: {count_macs(model)/1e6:.1f} M MACs, {sum(p.numel() for p in model.parameters())/1e6:.2f} M params; "
          f"{len(xtr)} train, {len(xva)} PublicTest, {steps_per_epoch} steps/epoch", flush=True)
    xtr_dev, ytr_dev = torch.from_numpy(xtr).to(device), torch.from_numpy(ytr).to(device)
    epoch = start_epoch
    while epoch < args.epochs:
        t0 = time.time()
        if args.qat:
            calibrate_qat(model, calib)  # this epoch's rounding ranges, from its starting weights
        model.train()
        perm = torch.randperm(len(xtr), generator=gen).to(device)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        seen = 0
        for s in range(steps_per_epoch):
            step = epoch * steps_per_epoch + s
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total, steps_per_epoch * args.warmup, args.lr)
            idx = perm[s * args.batch : (s + 1) * args.batch]
            x = augment(normalise(xtr_dev[idx]), gen)
            x, y, y_mixed, keep = cutmix(x, ytr_dev[idx], gen, args.cutmix)
            x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16):
                logits = model(x)
            loss = criterion(logits.float(), y)
            if keep < 1.0:
                loss = keep * loss + (1 - keep) * criterion(logits.float(), y_mixed)
            if teachers:
                # T^2 keeps the soft term's gradients on the scale of the hard one's.
                soft = teachers.probs(x, args.kd_temp, args.bf16)
                kd = F.kl_div(F.log_softmax(logits.float() / args.kd_temp, 1), soft, reduction="batchmean")
                loss = (1 - args.kd_alpha) * loss + args.kd_alpha * args.kd_temp**2 * kd
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            ema.update(model, step)
            loss_sum += loss.detach() * len(idx)
            correct += (logits.argmax(1) == y).sum()
            seen += len(idx)
        loss_sum, correct = loss_sum.item(), correct.item()
        if args.qat:
            for m in (model, ema.model):
                calibrate_qat(m, calib)
        acc = accuracy(predict(model, xva), yva)
        acc_ema = accuracy(predict(ema.model, xva), yva)
        secs = time.time() - t0
        elapsed += secs
        with log_path.open("a") as f:
            f.write(f"{epoch+1},{opt.param_groups[0]['lr']:.5f},{loss_sum/seen:.4f},{correct/seen:.4f},{acc:.4f},{acc_ema:.4f},{secs:.1f}\n")
        print(f"epoch {epoch+1}/{args.epochs} loss {loss_sum/seen:.4f} train {correct/seen:.4f} "
              f"PublicTest {acc:.4f} ema {acc_ema:.4f} ({secs:.0f}s)", flush=True)
        if max(acc, acc_ema) > best:
            best, which = max((acc_ema, "ema"), (acc, "live"))
            chosen = ema.model if which == "ema" else model
            state = from_qat(chosen, args.width, args.arch) if args.qat else chosen.state_dict()
            torch.save({"model": state, "epoch": epoch + 1, "acc": best, "weights": which, "width": args.width, "arch": args.arch,
                        "teachers": teachers.names if teachers else []}, run / "best.pt")
        torch.save({"model": model.state_dict(), "ema": ema.model.state_dict(), "opt": opt.state_dict(),
                    "gen": gen.get_state(), "epoch": epoch + 1, "best": best, "elapsed": elapsed}, run / "last.pt.tmp")
        os.replace(run / "last.pt.tmp", last)  # atomic: a kill mid-save keeps the previous epoch
        if (epoch + 1) % 5 == 0 or epoch + 1 == args.epochs:
            plot_curve(log_path, run / "learning_curve.png")
        epoch += 1
        if args.time_budget and epoch == start_epoch + 2:
            # Fit the schedule to the budget, timed on the second epoch (the first pays for
            # start-up). Warm-up lasts 2 epochs, so the cosine decay has not begun yet.
            args.epochs = max(epoch + 1, epoch + int((args.time_budget - elapsed) / secs))
            total = steps_per_epoch * args.epochs
            print(f"time budget {args.time_budget:.0f}s: {args.epochs} epochs", flush=True)


def plot_curve(log_path: Path, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader(log_path.open()))
    if not rows:
        return
    ep = [int(r["epoch"]) for r in rows]
    fig, ax1 = plt.subplots(figsize=(7, 4))
    ax1.plot(ep, [float(r["train_loss"]) for r in rows], "C0-", label="train loss")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("loss")
    ax2 = ax1.twinx()
    ax2.plot(ep, [float(r["train_acc"]) for r in rows], "C1--", label="train acc")
    ax2.plot(ep, [float(r["publictest_acc"]) for r in rows], "C2-", label="PublicTest acc")
    ax2.plot(ep, [float(r["publictest_acc_ema"]) for r in rows], "C3-", label="PublicTest acc (EMA)")
    ax2.axhline(0.7158, color="grey", ls=":", label="paper 71.58%")
    ax2.set_ylabel("accuracy")
    fig.legend(loc="lower center", ncol=3, fontsize=8)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(out, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------------- export
def onnx_predict(path: Path, x_u8: np.ndarray, flip_tta: bool = False) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    out = []
    for i in range(0, len(x_u8), 256):
        x = normalise(torch.from_numpy(x_u8[i : i + 256])).numpy()
        p = F.softmax(torch.from_numpy(sess.run(None, {name: x})[0]), 1)
        if flip_tta:
            p = (p + F.softmax(torch.from_numpy(sess.run(None, {name: x[..., ::-1].copy()})[0]), 1)) / 2
        out.append(p.numpy())
    return np.concatenate(out)


def export(args, data, run: Path, out_dir: Path) -> None:
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    model, ck = load_best(run / "best.pt")
    arch = ck.get("arch", "vgg8")
    fused = fused_for_export(model)
    f32_convs = F32_CONVS.get(arch, 0) if args.f32_convs is None else args.f32_convs
    out_dir.mkdir(parents=True, exist_ok=True)
    f32_path, int8_path = out_dir / "emotion-f32.onnx", out_dir / "emotion-int8.onnx"
    torch.onnx.export(
        fused, torch.zeros(1, 1, SIZE, SIZE), str(f32_path), input_names=["face"], output_names=["logits"],
        dynamic_axes={"face": {0: "n"}, "logits": {0: "n"}}, opset_version=13, dynamo=False,
    )
    onnx.checker.check_model(onnx.load(str(f32_path)))

    xtr, _ = data["Training"]
    calib = calibration_images(xtr, args.calib)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(normalise(torch.from_numpy(calib[i : i + 1])).numpy() for i in range(len(calib)))

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {"face": x}

    # QOperator + per-tensor weights: tract runs QLinearConv with fused integer kernels;
    # QDQ would run as fake-quantised f32 and per-channel adds ~10 unfused ops per conv.
    quantize_static(
        str(f32_path), str(int8_path), Reader(), quant_format=QuantFormat.QOperator, per_channel=False,
        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
        op_types_to_quantize=["Conv", "Relu", "MaxPool"], extra_options={"ActivationSymmetric": False},
        nodes_to_exclude=first_convs(f32_path, f32_convs),
    )
    xva, yva = data["PublicTest"]
    meta = {
        "labels": LABELS,
        "input": {"name": "face", "shape": [1, 1, SIZE, SIZE], "layout": "NCHW grayscale",
                  "normalisation": {"formula": "(pixel / 255 - mean) / std", "mean": MEAN, "std": STD}},
        "output": {"name": "logits", "shape": [1, len(LABELS)], "apply": "softmax"},
        "architecture": f"EmotionNet {arch} width {ck['width']}, {count_macs(model)/1e6:.1f} M MACs",
        "int8_f32_convs": f32_convs,
        "selected_epoch": ck["epoch"],
        "distilled_from": [Path(t).parent.name for t in ck.get("teachers", [])],
        "training_seconds": training_seconds(run / "log.csv"),
        "recipe_commit": git_commit(),
        "exported": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "files": {},
    }
    for path in (f32_path, int8_path) if args.evaluate else ():
        p = onnx_predict(path, xva)
        pt = onnx_predict(path, xva, flip_tta=True)
        meta["files"][path.name] = {
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "bytes": path.stat().st_size,
            "publictest_accuracy": round(accuracy(p, yva), 4),
            "publictest_accuracy_flip_tta": round(accuracy(pt, yva), 4),
            "publictest_macro_f1": round(macro_f1(p, yva), 4),
        }
        print(path.name, meta["files"][path.name], flush=True)
    (out_dir / "emotion.json").write_text(json.dumps(meta, indent=2) + "\n")


def save_untrained(args, run: Path) -> None:
    """RUN/best.pt with random weights and BatchNorm statistics, to count a network's
    instructions on ARM before training it (cross/count-insns)."""
    torch.manual_seed(args.seed)
    model = EmotionNet(args.width, args.arch)
    for bn in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        nn.init.uniform_(bn.bias, -0.3, 0.3)
    torch.save({"model": model.state_dict(), "epoch": 0, "width": args.width, "arch": args.arch}, run / "best.pt")


def training_seconds(log_path: Path) -> float | None:
    """Sum of the per-epoch times in the run's log (kept with best.pt, unlike last.pt)."""
    if not log_path.exists():
        return None
    return round(sum(float(r["seconds"]) for r in csv.DictReader(log_path.open())), 1)


def first_convs(onnx_path: Path, k: int) -> list[str]:
    """Names of the first k Conv nodes and their Relus: the layers deliberately left in f32
    (on ARM, tract's int8 im2col costs more than the int8 matmul saves where Cout is small;
    see cross/README.md for the per-layer instruction counts)."""
    import onnx

    names, convs = [], 0
    for node in onnx.load(str(onnx_path)).graph.node:
        if node.op_type == "Conv":
            if convs == k:
                break
            convs += 1
        if node.op_type in ("Conv", "Relu"):
            names.append(node.name)
    return names


def git_commit() -> str | None:
    try:
        return subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    ap.add_argument("--run", type=Path, default=HERE / "runs" / "default", help="checkpoint folder (git-ignored)")
    ap.add_argument("--out", type=Path, default=REPO / "models", help="where the shipped model files go")
    ap.add_argument("--cache", type=Path, help="folder of the parsed-CSV cache fer2013.npz (default: RUN/..)")
    ap.add_argument("--resume", action="store_true", help="continue from RUN/last.pt")
    ap.add_argument("--export-only", action="store_true", help="skip training, export RUN/best.pt")
    ap.add_argument("--epochs", type=int, default=118)
    ap.add_argument("--init-from", type=Path, help="start a new run from this checkpoint's weights (e.g. a second cycle at a lower --lr)")
    ap.add_argument("--no-bf16", dest="bf16", action="store_false", help="train in f32 (slower on CPU)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--warmup", type=int, default=2, help="epochs of linear warm-up")
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--cutmix", type=float, default=0.0, help="probability of CutMix per batch (0 = off)")
    ap.add_argument("--teacher", type=Path, action="append", default=[],
                    help="a trained RUN/best.pt to distil from (repeat for an ensemble)")
    ap.add_argument("--qat", action="store_true",
                    help="quantisation-aware fine-tuning of --init-from: trains through int8 rounding")
    ap.add_argument("--kd-alpha", type=float, default=0.7, help="weight of the distillation term (with --teacher)")
    ap.add_argument("--kd-temp", type=float, default=2.0, help="softmax temperature of the distillation term")
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--arch", choices=sorted(ARCHS), default="s2")
    ap.add_argument("--f32-convs", type=int, help="leave the first N convs in f32 in the int8 model (default: the arch's)")
    ap.add_argument("--no-eval", dest="evaluate", action="store_false", help="export without measuring accuracy")
    ap.add_argument("--calib", type=int, default=1000, help="training images used to calibrate int8")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--time-budget", type=float, help="seconds: after epoch 2, set --epochs to fit (GPU runs)")
    ap.add_argument("--train-only", action="store_true", help="skip the export (e.g. on a machine without git)")
    ap.add_argument("--untrained", action="store_true",
                    help="export --arch with random weights (instruction counts do not depend on them)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    args.run.mkdir(parents=True, exist_ok=True)
    data = load_split(args.csv, args.cache or args.run.parent)
    if args.untrained:
        save_untrained(args, args.run)
    elif not args.export_only:
        train(args, data, args.run)
    if not args.train_only:
        export(args, data, args.run, args.out)


if __name__ == "__main__":
    main()
