"""ztf: a terminal tutor for a build-it-yourself deep-learning curriculum."""

__version__ = "0.1.0"
