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
        bn = self.bn(pw)
        relu6 = F.relu6(bn)
        lrelu = F.leaky_relu(relu6, 0.1)
        hs = F.hardswish(lrelu)
        hsig = F.hardsigmoid(hs)
        sig = torch.sigmoid(hsig)
        t = torch.tanh(sig)
        si = F.silu(t)
        g = F.gelu(si, approximate='tanh')
        mp = F.max_pool2d(g, (3, 3), (2, 2), (0, 0), (1, 1), ceil_mode=True)
        ap = F.avg_pool2d(g, (2, 2), (2, 2), (1, 1), ceil_mode=False, count_include_pad=False)
        up = F.interpolate(mp, scale_factor=(2.0, 2.0), mode='nearest')
        upb = F.interpolate(ap, size=(8, 8), mode='bilinear', align_corners=True)
        cat = torch.cat([up, upb], 1)
        a, _c = torch.split(cat, (20, 12), 1)
        sl = a[:, 2:, :, :-1:2]
        pd = F.pad(sl, (0, 2, 1, 1), value=0.0)
        gap = F.adaptive_avg_pool2d(pd, (1, 1))
        fl = torch.flatten(gap, 1, -1)
        fc = self.fc(fl)
        half = torch.full((), 0.5, dtype=torch.float32)
        scaled = fc * half
        bias = torch.tensor([1.0, -2.0, 3.5, 0.0, 1e-07, 2.0, 2.0, 2.0, 2.0, 2.0], dtype=torch.float32)
        add = scaled + bias
        sub = add - half
        div = sub / half
        sm = F.softmax(div, -1)
        ln = self.ln(s)
        tr = ln.permute(0, 2, 1)
        mm = torch.matmul(ln, tr)
        mean = torch.mean(mm, (2,), keepdim=True)
        sum_ = torch.sum(mean, (-1,), keepdim=False)
        rs = sum_.reshape(sum_.shape[0], 10, 1)
        out2 = ln * rs
        ct = self.up(cat)
        crop = ct[:, :, :14, :14]
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
