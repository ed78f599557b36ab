"""Batch augmentation on tensors, on the training device: no per-sample Python work, no DataLoader."""

from __future__ import annotations

import torch


def random_crop(x: torch.Tensor, pad: int, gen: torch.Generator) -> torch.Tensor:
    """Pad with zeros (the normalised mean is ~0) and cut a random H×W window per sample."""
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n, 1, 1), generator=gen, device=gen.device).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (n, 1, 1), generator=gen, device=gen.device).to(x.device)
    rows = (torch.arange(h, device=x.device)[None, :, None] + dy).expand(n, h, w)
    cols = (torch.arange(w, device=x.device)[None, None, :] + dx).expand(n, h, w)
    batch = torch.arange(n, device=x.device)[:, None, None].expand(n, h, w)
    # Advanced indexing picks (row, col) per sample for every channel at once.
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous()


def random_flip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    mask = torch.rand(x.shape[0], generator=gen, device=gen.device).to(x.device) < 0.5
    return torch.where(mask[:, None, None, None], x.flip(3), x)


def random_erase(
    x: torch.Tensor, gen: torch.Generator, p: float = 0.5, max_frac: float = 0.4
) -> torch.Tensor:
    """Zero one random rectangle (up to `max_frac` of each side) in a share `p` of the samples."""
    n, _, h, w = x.shape
    r = torch.rand(n, 5, generator=gen, device=gen.device).to(x.device)
    eh = (r[:, 0] * max_frac * h).long() + 1
    ew = (r[:, 1] * max_frac * w).long() + 1
    y0 = (r[:, 2] * (h - eh + 1)).long()
    x0 = (r[:, 3] * (w - ew + 1)).long()
    ys = torch.arange(h, device=x.device)[None, :]
    xs = torch.arange(w, device=x.device)[None, :]
    in_y = (ys >= y0[:, None]) & (ys < (y0 + eh)[:, None])
    in_x = (xs >= x0[:, None]) & (xs < (x0 + ew)[:, None])
    box = in_y[:, :, None] & in_x[:, None, :] & (r[:, 4] < p)[:, None, None]
    return x.masked_fill(box[:, None], 0.0)


class Augmenter:
    """Crop (+ flip where the classes allow it) + erasing; seeded by its own generator."""

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        *,
        flip: bool,
        seed: int,
        device: torch.device,
        erasing: float = 0.5,
    ):
        self.pad = max(1, input_shape[1] // 8)  # 4 px at 32, 3 px at 28, 1 px at 8
        self.flip = flip
        # Erasing regularises wide nets; tiny ones underfit already, so a spec may turn it down or off.
        self.erasing = erasing
        # A CPU generator works on every build; moving the small random draws to the device is cheap.
        self.gen = torch.Generator().manual_seed(seed)
        self.device = device

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = random_crop(x, self.pad, self.gen)
        if self.flip:
            x = random_flip(x, self.gen)
        return random_erase(x, self.gen, p=self.erasing) if self.erasing > 0 else x
