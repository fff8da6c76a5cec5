"""The super-resolution network: an ESPCN-style residual net on the luminance channel.

Every convolution works in low-resolution space (cheap), a pixel shuffle lifts the
result to high resolution, and a fixed bicubic path carries the low frequencies so the
learned body only has to predict the missing detail (faster, steadier training).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as nnf


def _cubic(x: float, a: float = -0.5) -> float:
    # Keys' cubic with a = -0.5, the kernel Pillow's BICUBIC uses.
    x = abs(x)
    if x < 1:
        return (a + 2) * x**3 - (a + 3) * x**2 + 1
    if x < 2:
        return a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a
    return 0.0


def bicubic_phase_kernels(scale: int) -> torch.Tensor:
    """Bicubic upsampling by ``scale`` written as ``scale**2`` 5x5 convolutions (one per phase).

    Output pixel ``(s*y + i, s*x + j)`` sits at low-resolution coordinate
    ``y + (i + 0.5)/s - 0.5``; its four cubic taps all fall within +-2 of ``y``.
    """
    taps = []
    for i in range(scale):
        t = (i + 0.5) / scale - 0.5
        taps.append([_cubic(k - t) for k in range(-2, 3)])
    weight = torch.zeros(scale * scale, 1, 5, 5)
    for i in range(scale):
        for j in range(scale):
            ky = torch.tensor(taps[i])
            kx = torch.tensor(taps[j])
            k = torch.outer(ky, kx)
            weight[i * scale + j, 0] = k / k.sum()
    return weight


class SRNet(nn.Module):
    def __init__(self, scale: int, channels: int = 48, layers: int = 6) -> None:
        super().__init__()
        self.scale = scale
        self.channels = channels
        self.layers = layers
        convs: list[nn.Module] = [nn.Conv2d(1, channels, 3, padding=1), nn.LeakyReLU(0.1)]
        for _ in range(layers - 2):
            convs += [nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(0.1)]
        convs.append(nn.Conv2d(channels, scale * scale, 3, padding=1))
        self.body = nn.Sequential(*convs)
        self.register_buffer("skip", bicubic_phase_kernels(scale))
        for m in self.body:
            if isinstance(m, nn.Conv2d):
                # Kaiming for leaky ReLU: the default init stalls this net (first experiment).
                nn.init.kaiming_normal_(m.weight, a=0.1, nonlinearity="leaky_relu")
                nn.init.zeros_(m.bias)
        last = self.body[-1]
        assert isinstance(last, nn.Conv2d)
        # Start as plain bicubic: the residual head begins near zero.
        nn.init.normal_(last.weight, std=1e-3)

    @property
    def receptive_radius(self) -> int:
        """Low-resolution pixels of context each output pixel depends on, each side."""
        return max(self.layers, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = nnf.conv2d(nnf.pad(x, (2, 2, 2, 2), mode="replicate"), self.skip)
        return nnf.pixel_shuffle(self.body(x) + base, self.scale)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def macs_per_lr_pixel(model: SRNet) -> int:
    c, n, s = model.channels, model.layers, model.scale
    return 9 * (c + (n - 2) * c * c + c * s * s) + 25 * s * s


if __name__ == "__main__":
    for s in (2, 4):
        m = SRNet(s)
        print(s, count_params(m), macs_per_lr_pixel(m))


# JPEG/JFIF (full-range BT.601) RGB -> YCbCr with chroma centred on 0.
RGB_TO_YCC = torch.tensor(
    [
        [0.299, 0.587, 0.114],
        [-0.168735892, -0.331264108, 0.5],
        [0.5, -0.418687589, -0.081312411],
    ],
    dtype=torch.float64,
)


class RGBUpscaler(nn.Module):
    """What ships: uint8 RGB (H, W, 3) in, uint8 RGB (H*s, W*s, 3) out.

    Colour conversion, the bicubic chroma path and the final rounding all run inside
    the ONNX graph, so the adapter does no per-pixel work in NumPy or Pillow (which
    took about a third of the time when done outside).
    """

    def __init__(self, net: SRNet) -> None:
        super().__init__()
        self.net = net
        self.scale = net.scale
        self.receptive_radius = net.receptive_radius
        self.register_buffer("to_ycc", RGB_TO_YCC.float()[:, :, None, None])
        self.register_buffer("to_rgb", torch.linalg.inv(RGB_TO_YCC).float()[:, :, None, None])

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        x = rgb.to(torch.float32).permute(2, 0, 1).unsqueeze(0)
        ycc = nnf.conv2d(x, self.to_ycc)
        y_hr = self.net(ycc[:, :1] / 255.0) * 255.0
        # Cb and Cr through the same fixed bicubic phases as the luminance skip path.
        chroma = ycc[:, 1:].transpose(0, 1)
        chroma = nnf.conv2d(nnf.pad(chroma, (2, 2, 2, 2), mode="replicate"), self.net.skip)
        chroma_hr = nnf.pixel_shuffle(chroma, self.scale).transpose(0, 1)
        out = nnf.conv2d(torch.cat([y_hr, chroma_hr], dim=1), self.to_rgb)
        out = torch.clamp(torch.round(out), 0.0, 255.0)
        return out[0].permute(1, 2, 0).to(torch.uint8)
