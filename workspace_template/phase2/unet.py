"""Lesson 2.1: a U-Net that removes Gaussian noise from images.

Write every function that raises NotImplementedError. `ztf check 2.1` (or saving this file
while `ztf start` runs) tells you which parts are correct. Run `ztf hint 2.1` when stuck.
Images are tensors of shape (N, C, H, W); H and W must be divisible by 2**depth.
"""

import torch
from torch import nn
from torch.nn import functional as F


class DoubleConv(nn.Module):
    """Two 3×3 convolutions with padding 1, each followed by nn.BatchNorm2d and ReLU.

    Maps (N, in_channels, H, W) to (N, out_channels, H, W): the height and width do not change.
    """

    def __init__(self, in_channels, out_channels):
        super().__init__()
        raise NotImplementedError("DoubleConv.__init__ is not implemented yet")

    def forward(self, x):
        raise NotImplementedError("DoubleConv.forward is not implemented yet")


class UNet(nn.Module):
    """Encoder, bottleneck and decoder, with a skip connection at every level.

    With widths w_i = base_channels · 2^i:
        encoders:  nn.ModuleList of `depth` DoubleConv blocks. Encoder i outputs w_i channels at
                   H / 2^i, and 2×2 max pooling follows it (F.max_pool2d, nothing to store).
        bottleneck: a DoubleConv from w_(depth−1) to w_depth channels, at H / 2^depth.
        upsamples: nn.ModuleList of `depth` nn.ConvTranspose2d(w_(i+1), w_i, 2, stride=2), deepest first.
        decoders:  nn.ModuleList of `depth` DoubleConv(2 · w_i, w_i), deepest first; each reads the
                   upsampled tensor concatenated with the matching encoder output (the skip).
        head:      nn.Conv2d(w_0, out_channels, kernel_size=1), with no activation after it.
    """

    def __init__(self, in_channels=1, out_channels=1, base_channels=8, depth=2):
        super().__init__()
        raise NotImplementedError("UNet.__init__ is not implemented yet")

    def forward(self, x):
        """(N, in_channels, H, W) -> (N, out_channels, H, W)."""
        raise NotImplementedError("UNet.forward is not implemented yet")


def train_step(model, optimizer, clean, noise_std, generator=None):
    """Take one training step on a batch of clean images and return the loss as a float.

    Put the model in training mode, make noisy = clean + noise_std · N(0, 1) (draw the noise with
    torch.randn(clean.shape, generator=generator, device=clean.device)), compute the MSE between
    model(noisy) and the clean images, then zero the gradients, backpropagate and step.
    """
    raise NotImplementedError("train_step is not implemented yet")


def denoise(model, noisy):
    """Return the model's prediction for noisy images, in evaluation mode and without gradients."""
    raise NotImplementedError("denoise is not implemented yet")
