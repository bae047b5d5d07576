#!/usr/bin/python3
"""torch_align_train.py — PyTorch peer of `ember train align`: the same three towers, loss, optimizer and batch shapes.

Reads the same files as ember (Fashion-MNIST train, the first 8,000 MNIST test images, FSDD train split minus the
held-out speaker theo), computes the same 8 kHz log-mel features (torch.stft, centred, reflect padding, Hann window
200 in n_fft 256, hop 80, 40 HTK mel bins over 0-4 kHz, ln(max(x, 1e-6)), normalised with the training mean/std),
then trains for --warmup-steps + --steps steps and times the last --steps:

  image: Conv2d(1, 96, 7, stride 7) patches, CLS, learned positions [17, 96], 3 pre-norm blocks (LayerNorm,
         nn.MultiheadAttention 4 heads with biases, GELU MLP 192), final LayerNorm, CLS -> Linear(96, 256, no bias)
  audio: Conv2d(1, 32, 3, s2, p1) GELU, Conv2d(32, 32, 3, s2, p1) GELU -> [B, 24, 320] -> Linear(320, 96) +
         sinusoidal positions, 2 pre-norm blocks with key padding, final LayerNorm, masked mean -> Linear(96, 256)
  text:  Embedding(28, 64) masked mean -> Linear(64, 256, no bias);  every output L2-normalised
  loss:  symmetric InfoNCE image<->prompt + recording<->prompt, same-label pairs masked from the negatives,
         logit_scale = ln(1/0.07) learnable, clamped to [0, ln 100] after each step; AdamW lr 1e-3 (warmup),
         weight decay 0.05 on matrices only, grad-norm clip 1.0; the same random crop + SpecAugment masks.

Prints one line: images/s=... recordings/s=... steps/s=... loss=...
"""
import argparse
import gzip
import io
import math
import tarfile
import time
import wave

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FASHION = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"]
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
PROMPTS = ["a photo of a " + c if c != "ankle boot" else "a photo of an ankle boot" for c in FASHION] + \
          ["the number " + d for d in DIGITS]
L = 8  # words per prompt (padded)


def idx(path):
    b = gzip.open(path).read()
    nd = b[3]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(b, np.uint8, offset=4 + 4 * nd).reshape(dims)


def mel_fbank(n_freqs, f_max, n_mels, sr):
    # torchaudio.functional.melscale_fbanks(norm=None, mel_scale="htk")
    hz2mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)
    mel2hz = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)
    all_freqs = np.linspace(0, sr // 2, n_freqs)
    m_pts = np.linspace(hz2mel(0.0), hz2mel(f_max), n_mels + 2)
    f_pts = mel2hz(m_pts)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts[None, :] - all_freqs[:, None]
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return np.maximum(0, np.minimum(down, up)).astype(np.float32)  # [n_freqs, n_mels]


def log_mel(x, fb):
    win = torch.zeros(256)
    win[28:228] = torch.hann_window(200)
    s = torch.stft(torch.from_numpy(x), 256, 80, 256, win, center=True, pad_mode="reflect", return_complex=True)
    p = s.abs() ** 2  # [129, T]
    return torch.log(torch.clamp(torch.from_numpy(fb).T @ p, min=1e-6)).numpy()  # [40, T]


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, h, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def forward(self, x, pad=None):
        y = self.norm1(x)
        x = x + self.attn(y, y, y, key_padding_mask=pad, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class Image(nn.Module):
    def __init__(self, d=96, layers=3, heads=4, embed=256):
        super().__init__()
        self.proj = nn.Conv2d(1, d, 7, 7)
        self.cls = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.pos = nn.Parameter(torch.randn(17, d) * 0.02)
        self.blocks = nn.ModuleList([Block(d, heads) for _ in range(layers)])
        self.norm = nn.LayerNorm(d)
        self.out = nn.Linear(d, embed, bias=False)

    def forward(self, x):
        x = self.proj(x).flatten(2).transpose(1, 2)  # [B, 16, d]
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos
        for b in self.blocks:
            x = b(x)
        return F.normalize(self.out(self.norm(x)[:, 0]), dim=-1)


def sinusoid(T, D):
    pos = torch.arange(T, dtype=torch.float32)[:, None]
    i = torch.arange(0, D, 2, dtype=torch.float32)
    ang = pos / 10000 ** (i / D)
    pe = torch.zeros(T, D)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(ang), torch.cos(ang)
    return pe


class Audio(nn.Module):
    def __init__(self, bins=40, ch=32, d=96, layers=2, heads=4, embed=256):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, ch, 3, 2, 1), nn.Conv2d(ch, ch, 3, 2, 1)
        self.inp = nn.Linear(ch * (((bins + 1) // 2 + 1) // 2), d)
        self.blocks = nn.ModuleList([Block(d, heads) for _ in range(layers)])
        self.norm = nn.LayerNorm(d)
        self.out = nn.Linear(d, embed, bias=False)

    def forward(self, x, frames):
        x = F.gelu(self.c2(F.gelu(self.c1(x))))  # [B, C, F4, T4]
        if x.requires_grad:
            # torch 1.13's mkldnn convolution backward reads a non-contiguous grad_output (here: the permute's)
            # wrongly and returns garbage weight grads (measured: different values every run); a contiguous
            # grad is right (equal to the mkldnn-off result, tests/fixtures/gen_align.py checks it against ember).
            x.register_hook(lambda g: g.contiguous())
        B, C, F4, T4 = x.shape
        x = self.inp(x.permute(0, 3, 1, 2).reshape(B, T4, C * F4)) + sinusoid(T4, self.inp.out_features)
        valid = ((frames + 1) // 2 + 1) // 2
        pad = torch.arange(T4)[None, :] >= valid[:, None]  # [B, T4] True = padding
        for b in self.blocks:
            x = b(x, pad)
        x = self.norm(x) * (~pad)[..., None]
        return F.normalize(self.out(x.sum(1) / valid[:, None]), dim=-1)


class Text(nn.Module):
    def __init__(self, words, d=64, embed=256):
        super().__init__()
        self.tok = nn.Embedding(words, d)
        self.out = nn.Linear(d, embed, bias=False)

    def forward(self, ids, pad):
        keep = (~pad).float()[..., None]
        x = (self.tok(ids) * keep).sum(1) / keep.sum(1)
        return F.normalize(self.out(x), dim=-1)


def info_nce(z, t, scale, y):
    logits = scale * z @ t.T
    same = (y[:, None] == y[None, :]) & ~torch.eye(len(y), dtype=torch.bool)
    logits = logits.masked_fill(same, float("-inf"))
    tgt = torch.arange(len(y))
    return 0.5 * (F.cross_entropy(logits, tgt) + F.cross_entropy(logits.T, tgt))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--warmup-steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--img-batch", type=int, default=128)
    ap.add_argument("--aud-batch", type=int, default=32)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    fm = idx(f"{a.data}/images/fashion-mnist/train-images-idx3-ubyte.gz")
    fmy = idx(f"{a.data}/images/fashion-mnist/train-labels-idx1-ubyte.gz").astype(np.int64)
    mn = idx(f"{a.data}/images/mnist/t10k-images-idx3-ubyte.gz")[:8000]
    mny = idx(f"{a.data}/images/mnist/t10k-labels-idx1-ubyte.gz")[:8000].astype(np.int64) + 10
    imgs, imgy = np.concatenate([fm, mn]), np.concatenate([fmy, mny])
    rows = [l.rstrip("\n").split("\t") for l in open(f"{a.data}/audio/fsdd_labels.tsv")][1:]
    keep = {r[0]: int(r[1]) + 10 for r in rows if r[4] == "train" and r[2] != "theo"}
    fb = mel_fbank(129, 4000.0, 40, 8000)
    mels, mely = [], []
    with tarfile.open(f"{a.data}/audio/fsdd_recordings.tar.gz") as tf:
        for m in tf:
            if m.name in keep:
                w = wave.open(io.BytesIO(tf.extractfile(m).read()))
                x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
                mels.append(log_mel(x, fb))
                mely.append(keep[m.name])
    allv = np.concatenate([m.ravel() for m in mels])
    mu, sd = allv.mean(), allv.std()
    mels = [(m - mu) / sd for m in mels]
    vocab = ["[unk]"]
    for p in PROMPTS:
        for w in p.split():
            if w not in vocab:
                vocab.append(w)
    pid = np.zeros((20, L), np.int64)
    ppad = np.ones((20, L), bool)
    for c, p in enumerate(PROMPTS):
        ws = [vocab.index(w) for w in p.split()]
        pid[c, :len(ws)], ppad[c, :len(ws)] = ws, False
    image, audio, text = Image(), Audio(), Text(len(vocab))
    logit_scale = nn.Parameter(torch.tensor([math.log(1 / 0.07)]))
    params = list(image.parameters()) + list(audio.parameters()) + list(text.parameters())
    decay = [p for n, p in list(image.named_parameters()) + list(audio.named_parameters()) + list(text.named_parameters())
             if p.dim() >= 2 and "tok" not in n and "pos" not in n and "cls" not in n]
    nodecay = [p for p in params if all(p is not q for q in decay)] + [logit_scale]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": nodecay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    allp = params + [logit_scale]
    T = 96

    def batch():
        ii = rng.integers(0, len(imgs), a.img_batch)
        xi = torch.from_numpy(imgs[ii].astype(np.float32) / 255).unsqueeze(1)
        yi = torch.from_numpy(imgy[ii])
        ja = rng.integers(0, len(mels), a.aud_batch)
        xa = np.zeros((a.aud_batch, 1, 40, T), np.float32)
        fr = np.zeros(a.aud_batch, np.int64)
        for k, j in enumerate(ja):
            m = mels[j]
            n = min(m.shape[1], T)
            off = rng.integers(0, m.shape[1] - T + 1) if m.shape[1] > T else 0
            xa[k, 0, :, :n] = m[:, off:off + n]
            fw = rng.integers(0, 6)
            f0 = rng.integers(0, 40 - fw + 1)
            xa[k, 0, f0:f0 + fw] = 0
            tw = rng.integers(0, min(n // 5, 10) + 1)
            t0 = rng.integers(0, n - tw + 1)
            xa[k, 0, :, t0:t0 + tw] = 0
            fr[k] = n
        ya = torch.from_numpy(np.array([mely[j] for j in ja]))
        return xi, yi, torch.from_numpy(xa), torch.from_numpy(fr), ya

    def step(s):
        xi, yi, xa, fr, ya = batch()
        for g in opt.param_groups:
            g["lr"] = 1e-3 * min(1.0, (s + 1) / 200)
        scale = logit_scale.exp()
        li = info_nce(image(xi), text(torch.from_numpy(pid[yi]), torch.from_numpy(ppad[yi])), scale, yi)
        la = info_nce(audio(xa, fr), text(torch.from_numpy(pid[ya]), torch.from_numpy(ppad[ya])), scale, ya)
        loss = li + la
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(allp, 1.0)
        opt.step()
        with torch.no_grad():
            logit_scale.clamp_(0, math.log(100))
        return loss.item()

    for s in range(a.warmup_steps):
        step(s)
    t0 = time.perf_counter()
    for s in range(a.steps):
        lv = step(a.warmup_steps + s)
    dt = time.perf_counter() - t0
    sps = a.steps / dt
    print(f"images/s={sps * a.img_batch:.1f} recordings/s={sps * a.aud_batch:.1f} steps/s={sps:.3f} loss={lv:.4f} "
          f"threads={torch.get_num_threads()} torch={torch.__version__}")


if __name__ == "__main__":
    main()
