"""Checkpoint for lesson 3.2: the learner's byte-level BPE tokenizer against a check-side one."""

from __future__ import annotations

import random

from ztf_tutor.checking import Measured, criterion, fail

MODULE = "phase3.bpe"
ROUND_TRIP = [
    ("the empty string", ""),
    ("ASCII", "hello world, hello tokens!"),
    ("accents", "naïve café, déjà vu, Ærø"),
    ("mixed scripts", "Привет, мир! こんにちは世界。 مرحبا بالعالم"),
    ("emoji", "🙂👍🏽 family: 👨‍👩‍👧 flags 🇫🇷"),
    ("control characters", "tab\tnew\nline\r\x00nul"),
]
WORDS = ("the token model merges pairs of bytes into longer tokens and the model reads tokens "
         "a tokenizer learns frequent pairs first then rarer pairs while training on text "
         "café naïve 東京 Zürich 🙂 über").split()


def corpus(seed: int, words: int) -> str:
    """Deterministic text with repeated words, punctuation and multi-byte characters."""
    rng = random.Random(seed)
    sentences = []
    while words > 0:
        length = rng.randint(4, 12)
        sentence = " ".join(rng.choice(WORDS) for _ in range(length))
        sentences.append(sentence.capitalize() + rng.choice([".", "!", "?", ","]))
        words -= length
    return " ".join(sentences)


def oracle_train(text: str, vocab_size: int) -> dict[tuple[int, int], int]:
    """Learn BPE merges: the most frequent adjacent pair each round, ties to the pair seen first."""
    ids = list(text.encode("utf-8"))
    merges = {}
    for new_id in range(256, vocab_size):
        counts: dict[tuple[int, int], int] = {}
        for pair in zip(ids, ids[1:], strict=False):
            counts[pair] = counts.get(pair, 0) + 1
        best = max(counts.values())
        pair = next(p for p, c in counts.items() if c == best)
        merges[pair] = new_id
        ids = oracle_merge(ids, pair, new_id)
    return merges


def oracle_merge(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    out, i = [], 0
    while i < len(ids):
        if ids[i : i + 2] == list(pair):
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def oracle_encode(text: str, merges: dict[tuple[int, int], int]) -> list[int]:
    """Apply merges in rank order: always the present pair that was learned earliest."""
    ids = list(text.encode("utf-8"))
    while True:
        present = [p for p in zip(ids, ids[1:], strict=False) if p in merges]
        if not present:
            return ids
        pair = min(present, key=merges.__getitem__)
        ids = oracle_merge(ids, pair, merges[pair])


def trained(ctx, text: str, vocab_size: int):
    tokenizer = ctx.learner(MODULE).BPETokenizer()
    tokenizer.train(text, vocab_size)
    return tokenizer


@criterion("get_pair_counts counts adjacent pairs, and merge_pair replaces them left to right without overlaps")
def pairs_and_merges(ctx):
    module = ctx.learner(MODULE)
    counts = module.get_pair_counts([1, 2, 3, 1, 2])
    if dict(counts) != {(1, 2): 2, (2, 3): 1, (3, 1): 1}:
        fail(f"get_pair_counts([1, 2, 3, 1, 2]) returned {dict(counts)}; expected {{(1, 2): 2, (2, 3): 1, (3, 1): 1}}. "
             "Count every adjacent pair (ids[i], ids[i + 1]).")
    cases = [
        ([5, 5, 5], (5, 5), 256, [256, 5]),
        ([5, 5, 5, 5], (5, 5), 256, [256, 256]),
        ([1, 2, 1, 2, 3], (1, 2), 9, [9, 9, 3]),
        ([3, 1, 2], (2, 1), 9, [3, 1, 2]),
        ([], (1, 2), 9, []),
    ]
    for ids, pair, new_id, expected in cases:
        original = list(ids)
        got = module.merge_pair(ids, pair, new_id)
        if ids != original:
            fail(f"merge_pair changed its input list {original} to {ids}. Build and return a new list.")
        if list(got) != expected:
            fail(f"merge_pair({original}, {pair}, {new_id}) returned {got}; expected {expected}. Scan left to right, "
                 "and after replacing a pair skip both of its ids (i += 2), so that pairs never overlap.",
                 measured=f"{got}", threshold=f"{expected}")
    return Measured(f"{len(cases) + 1} cases exact")


@criterion('Training on "aaabdaaabac" with vocab_size 259 learns 3 merges and encodes it as [258, 100, 258, 97, 99]')
def classic_example(ctx):
    tokenizer = trained(ctx, "aaabdaaabac", 259)
    if len(tokenizer.merges) != 3:
        fail(f"train('aaabdaaabac', 259) learned {len(tokenizer.merges)} merges; 259 − 256 = 3. Look at the loop in "
             "BPETokenizer.train: one merge per new id from 256 to vocab_size − 1.",
             measured=f"{len(tokenizer.merges)} merges", threshold="= 3")
    got = tokenizer.encode("aaabdaaabac")
    if list(got) != [258, 100, 258, 97, 99]:
        fail(f"after training, encode('aaabdaaabac') returned {got}; expected [258, 100, 258, 97, 99] "
             "('aa' → 256, then 'aa'+'a' → 257, then 257+'b' → 258). Look at BPETokenizer.train and encode.",
             measured=f"{got}", threshold="[258, 100, 258, 97, 99]")
    return Measured(f"{got}", "[258, 100, 258, 97, 99]")


@criterion("Training learns exactly vocab_size − 256 merges, most frequent pair first, ties to the pair seen first")
def training_matches(ctx):
    text = corpus(1, 900)
    vocab_size = 330
    tokenizer = trained(ctx, text, vocab_size)
    expected = oracle_train(text, vocab_size)
    got = list(tokenizer.merges.items())
    if len(got) != vocab_size - 256:
        fail(f"train(text, {vocab_size}) learned {len(got)} merges; it must learn exactly {vocab_size - 256}. "
             "Look at the range of new ids in BPETokenizer.train.",
             measured=f"{len(got)} merges", threshold=f"= {vocab_size - 256}")
    for rank, ((pair, new_id), (want_pair, want_id)) in enumerate(zip(got, expected.items(), strict=False)):
        if (tuple(pair), new_id) != (want_pair, want_id):
            fail(f"merge number {rank + 1} is {tuple(pair)} → {new_id}; expected {want_pair} → {want_id}. Each round "
                 "merges the most frequent adjacent pair of the current ids, gives it the next id, and breaks ties in "
                 "favour of the pair that occurs first in the text (max over an insertion-ordered dict does this).",
                 measured=f"{tuple(pair)} → {new_id}", threshold=f"{want_pair} → {want_id}")
    for new_id in range(256, vocab_size):
        pair = next(p for p, i in expected.items() if i == new_id)
        want = tokenizer.vocab[pair[0]] + tokenizer.vocab[pair[1]]
        if tokenizer.vocab.get(new_id) != want:
            fail(f"vocab[{new_id}] is {tokenizer.vocab.get(new_id)!r}; token {new_id} merges {pair}, so its bytes are "
                 f"vocab[{pair[0]}] + vocab[{pair[1]}] = {want!r}. Look at build_vocab.")
    return Measured(f"{len(got)} merges identical", f"= {vocab_size - 256}")


def mistaken_encode(text: str, merges: dict[tuple[int, int], int], choose) -> list[int]:
    """Encode with a wrong rule for picking the next pair, to name a learner's mistake."""
    ids = list(text.encode("utf-8"))
    while True:
        present = [p for p in zip(ids, ids[1:], strict=False) if p in merges]
        if not present:
            return ids
        pair = choose(present, merges)
        ids = oracle_merge(ids, pair, merges[pair])


MISTAKES = [
    (lambda present, merges: present[0], "the leftmost mergeable pair was merged first"),
    (lambda present, merges: max(present, key=merges.__getitem__), "the merge learned last was applied first"),
    (lambda present, merges: max(present, key=present.count), "the most frequent pair in the text was merged first"),
]


@criterion("encode applies merges in rank order, not greedily left to right")
def rank_order(ctx):
    BPETokenizer = ctx.learner(MODULE).BPETokenizer
    cases = [
        ({(98, 99): 256, (97, 98): 257}, "abc", [97, 256]),
        ({(97, 98): 256, (98, 99): 257}, "bcbcbcab", [257, 257, 257, 256]),
        ({(97, 97): 256, (256, 97): 257, (256, 256): 258}, "aaaaa", [256, 257]),
    ]
    for merges, text, expected in cases:
        got = list(BPETokenizer(merges).encode(text))
        if got != expected:
            named = [label for choose, label in MISTAKES if mistaken_encode(text, merges, choose) == got]
            diagnosis = f", as if {' or '.join(named)}" if named else ""
            fail(f"with merges {merges}, encode({text!r}) returned {got}; expected {expected}{diagnosis}. "
                 "Repeatedly merge the pair present in the ids whose merge id is lowest (learned first): "
                 "min(pairs, key=lambda p: merges.get(p, inf)). Look at BPETokenizer.encode.",
                 measured=f"{got}", threshold=f"{expected}")
    return Measured(f"{len(cases)} merge orders exact")


@criterion("encode matches a rank-order reference encoder on held-out text")
def held_out_encoding(ctx):
    tokenizer = trained(ctx, corpus(2, 700), 320)
    merges = {tuple(pair): new_id for pair, new_id in tokenizer.merges.items()}
    worst = None
    for seed in (3, 4, 5):
        text = corpus(seed, 120) + " Ünïcödé 東京タワー 🙂🙂"
        got, expected = tokenizer.encode(text), oracle_encode(text, merges)
        if list(got) != expected:
            first = next((i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b), min(len(got), len(expected)))
            fail(f"on held-out text, encode gives {len(got)} tokens and the reference encoder with your own merges "
                 f"gives {len(expected)}; they first differ at token {first} ({got[first:first + 4]} vs "
                 f"{expected[first:first + 4]}). Look at BPETokenizer.encode.",
                 measured=f"{len(got)} tokens", threshold=f"{len(expected)} tokens")
        worst = len(got)
    return Measured(f"identical token ids ({worst} tokens in the last text)")


@criterion("decode(encode(text)) returns the text for ASCII, mixed scripts, emoji and the empty string")
def round_trip(ctx):
    BPETokenizer = ctx.learner(MODULE).BPETokenizer
    plain = BPETokenizer()
    for label, text in ROUND_TRIP:
        try:
            ids = list(plain.encode(text))
        except Exception as error:
            fail(f"with no merges, encode({text!r}) ({label}) raised {type(error).__name__}: {error}. encode must "
                 "accept any string, the empty one and one-byte strings included: stop when fewer than two ids remain.")
        if ids != list(text.encode("utf-8")):
            fail(f"with no merges, encode({text!r}) returned {ids[:8]}…; it must return the UTF-8 bytes "
                 f"{list(text.encode('utf-8'))[:8]}…, so that any text fits in 256 base tokens. Start encode from "
                 "list(text.encode('utf-8')), not from ord() of each character.")
    tokenizer = trained(ctx, corpus(6, 700), 300)
    for label, text in ROUND_TRIP:
        try:
            back = tokenizer.decode(tokenizer.encode(text))
        except Exception as error:
            fail(f"decode(encode(text)) for {label} ({text!r}) raised {type(error).__name__}: {error}. "
                 "encode and decode must accept any string, the empty one included.")
        if back != text:
            fail(f"decode(encode(text)) for {label} returned {back!r}; expected {text!r}. Decode by joining the "
                 "tokens' bytes and decoding the result as UTF-8 once; do not turn single bytes into characters "
                 "with chr().", measured=f"{back!r}", threshold=f"{text!r}")
    return Measured(f"{len(ROUND_TRIP)} texts round-trip")


@criterion("decode joins the tokens' bytes and decodes UTF-8 with replacement, so a cut character becomes U+FFFD")
def decode_bytes(ctx):
    tokenizer = ctx.learner(MODULE).BPETokenizer()
    cases = [([0xE2, 0x82, 0xAC], "€"), ([0xE2], "\ufffd"), ([104, 105, 0xF0, 0x9F], "hi\ufffd"), ([], "")]
    for ids, expected in cases:
        try:
            got = tokenizer.decode(ids)
        except UnicodeDecodeError as error:
            fail(f"decode({ids}) raised UnicodeDecodeError ({error.reason}). Token ids can end in the middle of a "
                 "character, so decode with bytes.decode('utf-8', errors='replace').")
        if got != expected:
            fail(f"decode({ids}) returned {got!r}; expected {expected!r}. Join the bytes of all tokens first, then "
                 "decode them as UTF-8 with errors='replace'; chr() of each byte turns '€' into three wrong "
                 "characters.", measured=f"{got!r}", threshold=f"{expected!r}")
    return Measured(f"{len(cases)} byte sequences decoded")


@criterion("save and load reproduce the merges in order and the same encodings")
def save_and_load(ctx):
    BPETokenizer = ctx.learner(MODULE).BPETokenizer
    tokenizer = trained(ctx, corpus(7, 500), 290)
    path = ctx.scratch / "tokenizer.json"
    tokenizer.save(str(path))
    loaded = BPETokenizer.load(str(path))
    before = [(tuple(p), i) for p, i in tokenizer.merges.items()]
    after = [(tuple(p), i) for p, i in loaded.merges.items()]
    if after != before:
        fail(f"after save and load the merges differ: {len(before)} before, {len(after)} after, first difference "
             f"{next(((a, b) for a, b in zip(before, after, strict=False) if a != b), None)}. Save every (pair, new id) in the "
             "order they were learned; look at BPETokenizer.save and load.")
    text = corpus(8, 80) + " 東京 🙂"
    try:
        same = loaded.encode(text) == tokenizer.encode(text) and loaded.decode(loaded.encode(text)) == text
    except Exception as error:
        fail(f"the loaded tokenizer failed to encode and decode a text: {type(error).__name__}: {error}. load must "
             "rebuild the vocabulary from the merges (build_vocab), as __init__ does.")
    if not same:
        fail("the loaded tokenizer encodes or decodes differently from the saved one. load must rebuild the "
             "vocabulary from the merges (build_vocab), as __init__ does.")
    return Measured(f"{len(after)} merges restored")
