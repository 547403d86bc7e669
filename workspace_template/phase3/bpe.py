"""Lesson 3.2: a byte-level byte-pair-encoding (BPE) tokenizer.

Write every function that raises NotImplementedError. `ztf check 3.2` (or saving this file
while `ztf start` runs) shows which parts are correct; `ztf hint 3.2` helps when you are stuck.

Token ids 0..255 are the single bytes. Merge number k (counting from 0) creates id 256 + k.
"""

import json


def get_pair_counts(ids):
    """Return a dict mapping each adjacent pair (ids[i], ids[i + 1]) to how often it occurs.

    Insert pairs in the order they first occur: training breaks ties in favour of the first.
    """
    raise NotImplementedError("get_pair_counts is not implemented yet")


def merge_pair(ids, pair, new_id):
    """Return a new list in which every occurrence of pair is replaced by new_id.

    Scan left to right without overlaps: merge_pair([5, 5, 5], (5, 5), 256) == [256, 5].
    Do not modify ids.
    """
    raise NotImplementedError("merge_pair is not implemented yet")


def build_vocab(merges):
    """Return a dict mapping every token id to its bytes.

    Ids 0..255 map to bytes([i]); each merge (a, b) → new_id maps to vocab[a] + vocab[b].
    merges is a dict {(a, b): new_id} in the order the merges were learned.
    """
    raise NotImplementedError("build_vocab is not implemented yet")


class BPETokenizer:
    """Byte-level BPE: text → UTF-8 bytes → merged token ids, and back.

    Attributes:
        merges: dict {(a, b): new_id}, in the order learned (ids 256, 257, …).
        vocab: dict {token id: bytes}, built from merges by build_vocab.
    """

    def __init__(self, merges=None):
        self.merges = dict(merges or {})
        self.vocab = build_vocab(self.merges)

    def train(self, text, vocab_size):
        """Learn vocab_size - 256 merges from text and set self.merges and self.vocab.

        Start from list(text.encode("utf-8")). Each round, merge the most frequent adjacent pair
        (ties: the pair that occurs first) into the next new id.
        """
        raise NotImplementedError("BPETokenizer.train is not implemented yet")

    def encode(self, text):
        """Return the token ids of text: its UTF-8 bytes, merged in rank order.

        Repeatedly merge the pair present in the ids that was learned earliest (lowest new id),
        until no present pair is in self.merges. Any string works, the empty one included.
        """
        raise NotImplementedError("BPETokenizer.encode is not implemented yet")

    def decode(self, ids):
        """Return the text of ids: join the tokens' bytes, then decode UTF-8 with errors="replace"."""
        raise NotImplementedError("BPETokenizer.decode is not implemented yet")

    def save(self, path):
        """Write the merges, in order, to the file at path (for example as JSON)."""
        raise NotImplementedError("BPETokenizer.save is not implemented yet")

    @classmethod
    def load(cls, path):
        """Return a BPETokenizer with the merges that save wrote to path."""
        raise NotImplementedError("BPETokenizer.load is not implemented yet")
