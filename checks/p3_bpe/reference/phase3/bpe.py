"""Reference solution for lesson 3.2: a byte-level byte-pair-encoding tokenizer."""

import json


def get_pair_counts(ids):
    """Count each adjacent pair in ids; the dict keeps pairs in the order they first occur."""
    counts = {}
    for pair in zip(ids, ids[1:]):
        counts[pair] = counts.get(pair, 0) + 1
    return counts


def merge_pair(ids, pair, new_id):
    """Replace every non-overlapping occurrence of pair, scanning left to right, by new_id."""
    out = []
    i = 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def build_vocab(merges):
    """Map every token id to its bytes: the 256 single bytes, then each merge's two parts joined."""
    vocab = {i: bytes([i]) for i in range(256)}
    for (a, b), new_id in merges.items():
        vocab[new_id] = vocab[a] + vocab[b]
    return vocab


class BPETokenizer:
    """Byte-level BPE: text → UTF-8 bytes → merged token ids, and back."""

    def __init__(self, merges=None):
        self.merges = dict(merges or {})
        self.vocab = build_vocab(self.merges)

    def train(self, text, vocab_size):
        if vocab_size < 256:
            raise ValueError(f"vocab_size must be at least 256, got {vocab_size}")
        ids = list(text.encode("utf-8"))
        merges = {}
        for new_id in range(256, vocab_size):
            counts = get_pair_counts(ids)
            if not counts:
                break
            pair = max(counts, key=counts.get)
            ids = merge_pair(ids, pair, new_id)
            merges[pair] = new_id
        self.merges = merges
        self.vocab = build_vocab(merges)

    def encode(self, text):
        ids = list(text.encode("utf-8"))
        while len(ids) >= 2:
            counts = get_pair_counts(ids)
            pair = min(counts, key=lambda p: self.merges.get(p, float("inf")))
            if pair not in self.merges:
                break
            ids = merge_pair(ids, pair, self.merges[pair])
        return ids

    def decode(self, ids):
        return b"".join(self.vocab[i] for i in ids).decode("utf-8", errors="replace")

    def save(self, path):
        merges = [[a, b, new_id] for (a, b), new_id in self.merges.items()]
        with open(path, "w", encoding="utf-8") as file:
            json.dump({"merges": merges}, file)

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
        return cls({(a, b): new_id for a, b, new_id in data["merges"]})
