"""AllOps: written by irc from the IR module @all_ops.

Load it with `model = load()` (weights from model.safetensors beside this file).
"""

import os

import torch
import torch.nn.functional as F
from torch import nn


class AllOps(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.pw = nn.Conv2d(8, 16, 1, stride=2, dilation=2, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.fc = nn.Linear(18, 10, bias=False)
        self.ln = nn.LayerNorm(32, eps=1e-06, bias=False)
        self.up = nn.ConvTranspose2d(32, 4, 2, stride=2, padding=1, output_padding=1, bias=False)

    def forward(self, x, s):
        dw = self.conv(x)
        pw = self.pw(F.pad(dw, (1, 0, 0, 1)))
        del dw
        bn = self.bn(pw)
        del pw
        relu6 = F.relu6(bn)
        del bn
        lrelu = F.leaky_relu(relu6, 0.1)
        del relu6
        hs = F.hardswish(lrelu)
        del lrelu
        hsig = F.hardsigmoid(hs)
        del hs
        sig = torch.sigmoid(hsig)
        del hsig
        t = torch.tanh(sig)
        del sig
        si = F.silu(t)
        del t
        g = F.gelu(si, approximate='tanh')
        del si
        mp = F.max_pool2d(g, (3, 3), (2, 2), (0, 0), (1, 1), ceil_mode=True)
        ap = F.avg_pool2d(g, (2, 2), (2, 2), (1, 1), ceil_mode=False, count_include_pad=False)
        del g
        up = F.interpolate(mp, scale_factor=(2.0, 2.0), mode='nearest')
        del mp
        upb = F.interpolate(ap, size=(8, 8), mode='bilinear', align_corners=True)
        del ap
        cat = torch.cat([up, upb], 1)
        del up, upb
        a, _c = torch.split(cat, (20, 12), 1)
        sl = a[:, 2:, :, :-1:2]
        del a
        pd = F.pad(sl, (0, 2, 1, 1), value=0.0)
        del sl
        gap = F.adaptive_avg_pool2d(pd, (1, 1))
        del pd
        fl = torch.flatten(gap, 1, -1)
        del gap
        fc = self.fc(fl)
        del fl
        half = torch.full((), 0.5, dtype=torch.float32)
        scaled = fc * half
        del fc
        bias = torch.tensor([1.0, -2.0, 3.5, 0.0, 1e-07, 2.0, 2.0, 2.0, 2.0, 2.0], dtype=torch.float32)
        add = scaled + bias
        del scaled, bias
        sub = add - half
        del add
        div = sub / half
        del half, sub
        sm = F.softmax(div, -1)
        del div
        ln = self.ln(s)
        tr = ln.permute(0, 2, 1)
        mm = torch.matmul(ln, tr)
        del tr
        mean = torch.mean(mm, (2,), keepdim=True)
        del mm
        sum_ = torch.sum(mean, (-1,), keepdim=False)
        del mean
        rs = sum_.reshape(sum_.shape[0], 10, 1)
        del sum_
        out2 = ln * rs
        del ln, rs
        ct = self.up(cat)
        del cat
        crop = ct[:, :, :14, :14]
        del ct
        return sm, out2, crop


def example_inputs(batch=1, seed=0):
    """Random inputs for forward, every dynamic dimension set to `batch` (what irc-check feeds)."""
    g = torch.Generator().manual_seed(seed * 1000 + batch)
    return (torch.randn((batch, 8, 16, 16), generator=g), torch.randn((batch, 10, 32), generator=g))


def load(weights=None):
    """The AllOps model in eval mode with its weights: a state_dict, a safetensors path, or by default
    model.safetensors beside this file."""
    model = AllOps()
    if weights is None:
        weights = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model.safetensors")
    if isinstance(weights, (str, os.PathLike)):
        from safetensors.torch import load_file

        weights = load_file(weights)
    model.load_state_dict(weights)
    return model.eval()
