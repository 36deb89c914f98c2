"""The PyTorch reference network of the benchmark: diffusers' UNet2DModel, re-implemented for the layouts
DiffusionSharp's model presets use (diffusers itself is not installed here; nothing is imported from it).

Module tree and parameter names are diffusers' (conv_in, time_embedding.linear_1, down_blocks.0.resnets.0.conv1,
…, mid_block.attentions.0.to_q, up_blocks.2.upsamplers…, conv_norm_out, conv_out), so the diffusers folder that
`diffusionsharp-bench export` writes loads with a strict load_state_dict.

Sections: safetensors reader · FLOP counter · layers · blocks · UNet2DModel · loading.
Works with Debian 12's python3-torch (1.13) and numpy; no other package.
"""
import json
import math
import os
import struct

import torch
import torch.nn.functional as F
from torch import nn

# ---------------------------------------------------------------- safetensors reader
# Format: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]},
# "__metadata__": {str: str}}, then the raw little-endian tensor bytes (offsets relative to the end of the header).
_DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16,
           "I64": torch.int64, "I32": torch.int32, "U8": torch.uint8, "BOOL": torch.bool}


def load_safetensors(path):
    """Returns ({name: tensor}, metadata) of a safetensors file, every tensor a CPU copy."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {}) or {}
    start = 8 + n
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        dtype = _DTYPES[info["dtype"]]
        raw = bytearray(data[start + begin:start + end])
        flat = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(info["shape"]).clone()
    return tensors, metadata


# ---------------------------------------------------------------- FLOP counter
class FlopCounter:
    """Counts the forward products from the shapes the modules actually see (forward hooks on every Conv2d and
    Linear, plus the attention products reported by Attention): the quantity DiffusionSharp's UNetFlops computes
    from the config. A multiply-add counts as 2; norms, activations, softmax and additions are not counted."""

    active = None

    def __init__(self, model):
        self.model = model
        self.conv = 0.0
        self.linear = 0.0
        self.attention = 0.0
        self._handles = []

    def __enter__(self):
        for m in self.model.modules():
            if isinstance(m, nn.Conv2d):
                self._handles.append(m.register_forward_hook(self._conv_hook))
            elif isinstance(m, nn.Linear):
                self._handles.append(m.register_forward_hook(self._linear_hook))
        FlopCounter.active = self
        return self

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()
        FlopCounter.active = None

    def _conv_hook(self, m, inputs, output):
        kh, kw = m.kernel_size
        self.conv += 2.0 * output.numel() * (m.in_channels // m.groups) * kh * kw

    def _linear_hook(self, m, inputs, output):
        self.linear += 2.0 * output.numel() * m.in_features

    @property
    def total(self):
        return self.conv + self.linear + self.attention


# ---------------------------------------------------------------- layers
class GroupNorm(nn.GroupNorm):
    """GroupNorm computed in float32 whatever the input dtype, as DiffusionSharp keeps its norms (and torch 1.13's CPU
    autocast would otherwise hand group_norm a bfloat16 input with float32 parameters, which it rejects)."""

    def forward(self, x):
        return F.group_norm(x.float(), self.num_groups, self.weight, self.bias, self.eps)


def activation(name):
    return {"silu": nn.SiLU(), "swish": nn.SiLU(), "mish": nn.Mish(), "gelu": nn.GELU(), "relu": nn.ReLU()}[name]


def timestep_embedding(t, dim, flip_sin_to_cos, shift):
    """Sinusoidal features (Vaswani et al. 2017, §3.5) as diffusers' get_timestep_embedding:
    ω_i = exp(−ln(10⁴)·i/(half − shift)), emb = [sin(tω), cos(tω)] (flipped to [cos, sin] on request)."""
    half = dim // 2
    exponent = -math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / (half - shift)
    arg = t[:, None].float() * torch.exp(exponent)[None, :]
    emb = torch.cat([torch.sin(arg), torch.cos(arg)], dim=-1)
    if flip_sin_to_cos:
        emb = torch.cat([emb[:, half:], emb[:, :half]], dim=-1)
    if dim % 2 == 1:
        emb = F.pad(emb, (0, 1, 0, 0))
    return emb


class TimestepEmbedding(nn.Module):
    def __init__(self, in_channels, dim):
        super().__init__()
        self.linear_1 = nn.Linear(in_channels, dim)
        self.act = nn.SiLU()
        self.linear_2 = nn.Linear(dim, dim)

    def forward(self, x):
        return self.linear_2(self.act(self.linear_1(x)))


class ResnetBlock2D(nn.Module):
    """h = conv1(act(norm1(x))) + time_emb_proj(act(emb)); h = conv2(dropout(act(norm2(h))));
    out = (shortcut(x) + h) / output_scale_factor (Ho et al. 2020, App. B)."""

    def __init__(self, cin, cout, temb, groups, eps, dropout, act, scale_factor=1.0):
        super().__init__()
        self.norm1 = GroupNorm(groups, cin, eps=eps, affine=True)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb, cout)
        self.norm2 = GroupNorm(groups, cout, eps=eps, affine=True)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.nonlinearity = activation(act)
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None
        self.scale_factor = scale_factor

    def forward(self, x, temb):
        h = self.conv1(self.nonlinearity(self.norm1(x)))
        h = h + self.time_emb_proj(self.nonlinearity(temb))[:, :, None, None]
        h = self.conv2(self.dropout(self.nonlinearity(self.norm2(h))))
        shortcut = self.conv_shortcut(x) if self.conv_shortcut is not None else x
        return (shortcut + h) / self.scale_factor


class Attention(nn.Module):
    """Spatial multi-head self-attention with a residual (Vaswani et al. 2017, eq. 1; diffusers' Attention with
    residual_connection=True and upcast_softmax=True): softmax(Q·Kᵀ/√d)·V over the H·W positions."""

    def __init__(self, channels, head_dim, groups, eps, scale_factor=1.0):
        super().__init__()
        self.heads = channels // head_dim
        self.head_dim = head_dim
        inner = self.heads * head_dim
        self.group_norm = GroupNorm(groups, channels, eps=eps, affine=True) if groups is not None else None
        self.to_q = nn.Linear(channels, inner)
        self.to_k = nn.Linear(channels, inner)
        self.to_v = nn.Linear(channels, inner)
        self.to_out = nn.ModuleList([nn.Linear(inner, channels), nn.Dropout(0.0)])
        self.scale_factor = scale_factor

    def forward(self, x):
        b, c, hgt, wid = x.shape
        n = hgt * wid
        h = self.group_norm(x) if self.group_norm is not None else x
        h = h.reshape(b, c, n).transpose(1, 2)
        split = lambda t: t.reshape(b, n, self.heads, self.head_dim).permute(0, 2, 1, 3).reshape(b * self.heads, n, self.head_dim)
        q, k, v = split(self.to_q(h)), split(self.to_k(h)), split(self.to_v(h))
        scores = torch.bmm(q, k.transpose(1, 2)) * (1.0 / math.sqrt(self.head_dim))
        probs = torch.softmax(scores.float(), dim=-1).to(v.dtype)
        o = torch.bmm(probs, v)
        if FlopCounter.active is not None:
            FlopCounter.active.attention += 2.0 * 2.0 * b * self.heads * n * n * self.head_dim
        o = o.reshape(b, self.heads, n, self.head_dim).permute(0, 2, 1, 3).reshape(b, n, self.heads * self.head_dim)
        o = self.to_out[1](self.to_out[0](o))
        return (o.transpose(1, 2).reshape(b, c, hgt, wid) + x) / self.scale_factor


class Downsample2D(nn.Module):
    def __init__(self, channels, padding):
        super().__init__()
        self.padding = padding
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=padding)

    def forward(self, x):
        if self.padding == 0:
            x = F.pad(x, (0, 1, 0, 1))
        return self.conv(x)


class Upsample2D(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


# ---------------------------------------------------------------- blocks
class DownBlock(nn.Module):
    """DownBlock2D / AttnDownBlock2D: (resnet [→ attention]) × layers, then an optional stride-2 conv."""

    def __init__(self, attn, layers, cin, cout, rs, add_downsample, padding, head_dim):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(cin if i == 0 else cout, cout, **rs) for i in range(layers)])
        self.attentions = nn.ModuleList([Attention(cout, head_dim, rs["groups"], rs["eps"]) for _ in range(layers)]) if attn else None
        self.downsamplers = nn.ModuleList([Downsample2D(cout, padding)]) if add_downsample else None

    def forward(self, x, temb):
        skips = []
        for i, resnet in enumerate(self.resnets):
            x = resnet(x, temb)
            if self.attentions is not None:
                x = self.attentions[i](x)
            skips.append(x)
        if self.downsamplers is not None:
            x = self.downsamplers[0](x)
            skips.append(x)
        return x, skips


class MidBlock(nn.Module):
    """UNetMidBlock2D: resnet → (attention → resnet)."""

    def __init__(self, channels, rs, scale_factor, add_attention, head_dim, attn_groups):
        super().__init__()
        rs = dict(rs, scale_factor=scale_factor)
        self.attentions = nn.ModuleList([Attention(channels, head_dim, attn_groups, rs["eps"], scale_factor)]) if add_attention else None
        self.resnets = nn.ModuleList([ResnetBlock2D(channels, channels, **rs), ResnetBlock2D(channels, channels, **rs)])

    def forward(self, x, temb):
        x = self.resnets[0](x, temb)
        if self.attentions is not None:
            x = self.attentions[0](x)
        return self.resnets[1](x, temb)


class UpBlock(nn.Module):
    """UpBlock2D / AttnUpBlock2D: (concat skip → resnet [→ attention]) × layers, then an optional ×2 upsampler."""

    def __init__(self, attn, layers, cin, prev, cout, rs, add_upsample, head_dim):
        super().__init__()
        resnets = []
        for i in range(layers):
            skip = cin if i == layers - 1 else cout
            rin = prev if i == 0 else cout
            resnets.append(ResnetBlock2D(rin + skip, cout, **rs))
        self.resnets = nn.ModuleList(resnets)
        self.attentions = nn.ModuleList([Attention(cout, head_dim, rs["groups"], rs["eps"]) for _ in range(layers)]) if attn else None
        self.upsamplers = nn.ModuleList([Upsample2D(cout)]) if add_upsample else None

    def forward(self, x, skips, temb):
        for i, resnet in enumerate(self.resnets):
            x = resnet(torch.cat([x, skips.pop()], dim=1), temb)
            if self.attentions is not None:
                x = self.attentions[i](x)
        if self.upsamplers is not None:
            x = self.upsamplers[0](x)
        return x


# ---------------------------------------------------------------- UNet2DModel
_SUPPORTED = {
    "time_embedding_type": ("positional",), "class_embed_type": (None,), "resnet_time_scale_shift": ("default",),
    "downsample_type": ("conv",), "upsample_type": ("conv",), "center_input_sample": (False,),
    "mid_block_type": ("UNetMidBlock2D",),
}


class UNet2DModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        for key, allowed in _SUPPORTED.items():
            if config.get(key, allowed[0]) not in allowed:
                raise NotImplementedError(f"torch_unet: {key}={config.get(key)!r} is not implemented (only {allowed})")
        self.config = config
        ch = config["block_out_channels"]
        c0 = ch[0]
        temb = config.get("time_embedding_dim") or 4 * c0
        groups = config.get("norm_num_groups", 32)
        eps = config.get("norm_eps", 1e-5)
        head = config.get("attention_head_dim", 8)
        head_dim = lambda c: head if head is not None else c
        layers = config.get("layers_per_block", 2)
        rs = dict(temb=temb, groups=groups, eps=eps, dropout=config.get("dropout", 0.0), act=config.get("act_fn", "silu"))

        self.conv_in = nn.Conv2d(config["in_channels"], c0, 3, padding=1)
        self.time_embedding = TimestepEmbedding(c0, temb)
        n_classes = config.get("num_class_embeds")
        self.class_embedding = nn.Embedding(n_classes, temb) if n_classes else None
        self.down_blocks = nn.ModuleList()
        out = c0
        for i, kind in enumerate(config["down_block_types"]):
            cin, out = out, ch[i]
            self.down_blocks.append(DownBlock(kind == "AttnDownBlock2D", layers, cin, out, rs, i < len(ch) - 1,
                                              config.get("downsample_padding", 1), head_dim(out)))
        attn_groups = config.get("attn_norm_num_groups") or groups
        self.mid_block = MidBlock(ch[-1], rs, config.get("mid_block_scale_factor", 1.0), config.get("add_attention", True),
                                  head_dim(ch[-1]), attn_groups)
        self.up_blocks = nn.ModuleList()
        rev = list(reversed(ch))
        out = rev[0]
        for i, kind in enumerate(config["up_block_types"]):
            prev, out = out, rev[i]
            cin = rev[min(i + 1, len(rev) - 1)]
            self.up_blocks.append(UpBlock(kind == "AttnUpBlock2D", layers + 1, cin, prev, out, rs, i < len(rev) - 1, head_dim(out)))
        self.conv_norm_out = GroupNorm(groups, c0, eps=eps, affine=True)
        self.conv_act = nn.SiLU()
        self.conv_out = nn.Conv2d(c0, config["out_channels"], 3, padding=1)

    def forward(self, sample, timesteps, class_labels=None):
        b = sample.shape[0]
        t = timesteps.reshape(-1).expand(b) if timesteps.numel() == 1 else timesteps
        emb = self.time_embedding(timestep_embedding(t, self.config["block_out_channels"][0],
                                                     self.config.get("flip_sin_to_cos", True), self.config.get("freq_shift", 0)).to(sample.dtype))
        if self.class_embedding is not None:
            emb = emb + self.class_embedding(class_labels).to(emb.dtype)
        x = self.conv_in(sample)
        skips = [x]
        for down in self.down_blocks:
            x, s = down(x, emb)
            skips.extend(s)
        x = self.mid_block(x, emb)
        for up in self.up_blocks:
            n = len(up.resnets)
            block_skips, skips = skips[-n:], skips[:-n]
            x = up(x, block_skips, emb)
        return self.conv_out(self.conv_act(self.conv_norm_out(x)))


# ---------------------------------------------------------------- loading
def from_pretrained(directory):
    """Builds the network from a diffusers folder's config.json and loads its safetensors weights (strict)."""
    with open(os.path.join(directory, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    model = UNet2DModel(config)
    weights, _ = load_safetensors(os.path.join(directory, "diffusion_pytorch_model.safetensors"))
    model.load_state_dict(weights, strict=True)
    return model
