"""Phase 2: core architectures (U-Net, recurrent networks, attention)."""
