"""Lesson 2.1 reference: a small U-Net that removes Gaussian noise from images."""

import torch
from torch import nn
from torch.nn import functional as F


class DoubleConv(nn.Module):
    """Two 3×3 convolutions, each followed by batch norm and ReLU; keeps the height and width."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.norm2 = nn.BatchNorm2d(out_channels)

    def forward(self, x):
        x = F.relu(self.norm1(self.conv1(x)))
        return F.relu(self.norm2(self.conv2(x)))


class UNet(nn.Module):
    """Encoder, bottleneck and decoder with a skip connection at every level."""

    def __init__(self, in_channels=1, out_channels=1, base_channels=8, depth=2):
        super().__init__()
        widths = [base_channels * 2**level for level in range(depth + 1)]  # e.g. 8, 16, 32
        self.encoders = nn.ModuleList()
        channels = in_channels
        for width in widths[:-1]:
            self.encoders.append(DoubleConv(channels, width))
            channels = width
        self.bottleneck = DoubleConv(widths[-2], widths[-1])
        self.upsamples = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for level in reversed(range(depth)):
            self.upsamples.append(nn.ConvTranspose2d(widths[level + 1], widths[level], 2, stride=2))
            self.decoders.append(DoubleConv(2 * widths[level], widths[level]))  # upsampled + skip
        self.head = nn.Conv2d(widths[0], out_channels, 1)

    def forward(self, x):
        skips = []
        for encoder in self.encoders:
            x = encoder(x)  # (N, width, H / 2^level, W / 2^level)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottleneck(x)  # (N, base · 2^depth, H / 2^depth, W / 2^depth)
        for upsample, decoder, skip in zip(self.upsamples, self.decoders, reversed(skips)):
            x = upsample(x)  # doubles H and W, halves the channels
            x = decoder(torch.cat([x, skip], dim=1))
        return self.head(x)  # linear output: denoised pixels may be negative


def train_step(model, optimizer, clean, noise_std, generator=None):
    """Add noise to clean images, take one optimizer step on the MSE to the clean images, return the loss."""
    model.train()
    noise = torch.randn(clean.shape, generator=generator, device=clean.device, dtype=clean.dtype)
    noisy = clean + noise_std * noise
    loss = F.mse_loss(model(noisy), clean)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


@torch.no_grad()
def denoise(model, noisy):
    """Predict the clean images in evaluation mode, without building a graph."""
    model.eval()
    return model(noisy)
