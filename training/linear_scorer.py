"""The default sentiment model as a standalone linear scorer: the fitted pipeline folded into one numpy file.

The default model (``sentiment_model.build_model``) is TF-IDF word n-grams -> NB log-count ratio -> logistic
regression: a linear function of the L2-normalised TF-IDF vector. Per review, with ``tf'_j`` the (sublinear)
term frequency of n-gram ``j``, ``idf_j`` its inverse document frequency, ``r_j`` its NB ratio and ``w_j`` its
logistic-regression coefficient::

    x_j = tf'_j * idf_j / sqrt(sum_k (tf'_k * idf_k)^2)        # TfidfVectorizer (L2 norm)
    decision = sum_j x_j * (r_j * w_j) + intercept              # NBLogCountRatio, then LogisticRegression
    P(positive) = 1 / (1 + exp(-decision))

So scoring needs only ``idf_j`` and ``c_j = r_j * w_j`` per n-gram, the intercept and a tokeniser: no
scikit-learn, scipy or pandas. The arithmetic is done in the vectorizer's dtype (float32) where the pipeline
does it (log, product with the idf, squares, the normalised value), so probabilities agree to ~1e-9.

Two halves:
- :func:`export` (training time; imports nothing beyond numpy itself) writes ``linear_scorer.npz`` next to
  ``model.joblib``;
- :class:`LinearScorer` (serving time; standard library + numpy) loads it and scores batches.

Vocabulary lookup, exact (no hash collisions can change a score). N-grams are never built as strings.
- Tokens -> integer ids (0 = out of vocabulary). For a batch of 32 texts or more, ASCII texts are tokenised on
  their bytes: a token of at most 8 bytes is packed into one integer and looked up in a numpy hash table, a
  longer one in a dict (:class:`_AsciiTokenIds`); other texts go through the token pattern and a dict.
- N-grams: the vocabulary is a trie. The node of an n-gram of length n >= 2 is the rank of the key
  ``node(its first n-1 tokens) * K + id(last token)`` (``K`` = number of token ids; a unigram's node is its token
  id) among all such keys of length n, found in a numpy hash table (open addressing, linear probing, keys
  compared in full). A batch's n-grams of length n are looked up in one vectorised probe over the windows found
  at length n-1 that have a child, so a window whose prefix is out of vocabulary is never extended.
- Each document's tokens are followed by a 0, so no window crosses from one review into the next.

A model with the character n-gram branch (``use_char_ngrams=True``) is refused by :func:`export`
(:class:`UnsupportedModelError`); it is served from ``model.joblib``.
"""

from __future__ import annotations

import json
import platform
import re
import sys
from itertools import chain, repeat
from pathlib import Path

import numpy as np

SCORER_FILENAME = "linear_scorer.npz"
FORMAT_VERSION = 1
KIND = "tfidf_word_ngrams_nb_logreg"
_DTYPES = {"float32": np.float32, "float64": np.float64}
_TOKEN_ID_LIMIT = 2**31  # node * K + token stays below 2**63 with nodes < 2**31
_NODE_LIMIT = 2**31  # node ids are stored as int32
_EMPTY = -1  # an unused hash-table slot
_BYTE_PATH_MIN_TEXTS = 32  # below this the byte-level ASCII path's fixed numpy cost outweighs what it saves
_FEW_LEFT = 256  # probe queries left at which the rest of their probe sequences is read in one go
_FIBONACCI = np.uint64(0x9E3779B97F4A7C15)  # 2**64 / golden ratio: multiplicative hashing
# The default model's token pattern (sentiment_model.WORD_TOKEN_PATTERN, which imports scikit-learn).
WORD_TOKEN_PATTERN = r"(?u)\b\w+\b|[!?]"
# For ASCII text that pattern's tokens are the runs of [A-Za-z0-9_] plus each "!" and "?": every other ASCII
# character becomes a space, "!" and "?" get spaces around them, and str.split does the rest (3x the regex).
_ASCII_NON_WORD = str.maketrans(
    {c: " " for c in map(chr, range(128)) if not (c.isalnum() or c == "_") and c not in "!?"}
)


class UnsupportedModelError(ValueError):
    """The fitted pipeline is not one the linear scorer reproduces exactly (the message says what differs)."""


class ScorerFileError(RuntimeError):
    """``linear_scorer.npz`` is missing, unreadable or of another format version; the message names the file."""


# --- export (training time) -------------------------------------------------------------------------------------
def _word_vectorizer(pipeline):
    """The single word TfidfVectorizer of the pipeline, checked to be one this module tokenises identically."""
    steps = getattr(pipeline, "named_steps", {})
    if set(steps) != {"features", "nb", "classifier"}:
        raise UnsupportedModelError(f"expected a features -> nb -> classifier pipeline, got steps {sorted(steps)}")
    branches = steps["features"].transformer_list
    names = [name for name, _ in branches]
    if names != ["word"]:
        raise UnsupportedModelError(
            f"the linear scorer supports the word n-gram branch only, the model has branches {names} "
            "(use_char_ngrams=True): serve model.joblib"
        )
    vectorizer = branches[0][1]
    unsupported = {
        "analyzer": vectorizer.analyzer != "word",
        "preprocessor": vectorizer.preprocessor is not None,
        "tokenizer": vectorizer.tokenizer is not None,
        "stop_words": vectorizer.stop_words is not None,
        "strip_accents": bool(vectorizer.strip_accents),
        "binary": vectorizer.binary,
        "use_idf": not vectorizer.use_idf,
        "norm": vectorizer.norm != "l2",
        "input": vectorizer.input != "content",
    }
    bad = [name for name, is_bad in unsupported.items() if is_bad]
    if bad:
        raise UnsupportedModelError(f"word vectorizer settings not supported by the linear scorer: {bad}")
    if re.compile(vectorizer.token_pattern).groups:
        raise UnsupportedModelError(f"token_pattern {vectorizer.token_pattern!r} has a capture group")
    return vectorizer


def _folded_weights(pipeline, n_features: int) -> tuple[np.ndarray, float]:
    """``c_j = r_j * w_j`` (NB ratio times coefficient) and the intercept of a binary 0/1 classifier."""
    classifier = pipeline.named_steps["classifier"]
    if list(classifier.classes_) != [0, 1]:
        raise UnsupportedModelError(f"expected classes [0, 1], got {list(classifier.classes_)}")
    coef = np.asarray(classifier.coef_, dtype=np.float64)
    ratio = np.asarray(pipeline.named_steps["nb"].ratio_, dtype=np.float64)
    if coef.shape != (1, n_features) or ratio.shape != (n_features,):
        raise UnsupportedModelError(
            f"shapes disagree: vocabulary {n_features}, NB ratio {ratio.shape}, coefficients {coef.shape}"
        )
    return ratio * coef[0], float(classifier.intercept_[0])


def _split_vocabulary(vectorizer) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Tokens (sorted), a (features x max_n) token-id matrix (0 = padding) and each feature's n-gram length."""
    tokenize = vectorizer.build_tokenizer()
    min_n, max_n = vectorizer.ngram_range
    terms = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get)
    parts = [term.split(" ") for term in terms]
    for term, pieces in zip(terms, parts, strict=True):
        if not min_n <= len(pieces) <= max_n or tokenize(term) != pieces:
            raise UnsupportedModelError(f"vocabulary term {term!r} does not split into its tokens on single spaces")
    tokens = sorted(set(chain.from_iterable(parts)))
    if len(tokens) + 1 >= _TOKEN_ID_LIMIT:
        raise UnsupportedModelError(f"{len(tokens)} distinct tokens exceed the scorer's limit")
    token_id = {token: i for i, token in enumerate(tokens, start=1)}
    lengths = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
    ids = np.zeros((len(parts), max_n), dtype=np.int64)
    for n in range(1, max_n + 1):
        rows = np.flatnonzero(lengths >= n)
        ids[rows, n - 1] = [token_id[parts[row][n - 1]] for row in rows]
    return tokens, ids, lengths


def _trie(ids: np.ndarray, lengths: np.ndarray, n_tokens: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per n-gram length n >= 2: the sorted node keys, and each feature's node at its own length.

    Level 1 nodes are the token ids themselves. A node at length n is ``parent_node * K + token_id`` where
    the parent is the node of the n-gram's first n-1 tokens, so every prefix of a feature is a node too.
    """
    k = n_tokens + 1
    keys_by_level = [np.arange(k, dtype=np.int64)]
    node = ids[:, 0].copy()  # node of each feature's prefix of the current length
    feature_node = [np.where(lengths == 1, node, -1)]
    for n in range(2, ids.shape[1] + 1):
        rows = np.flatnonzero(lengths >= n)
        query = node[rows] * k + ids[rows, n - 1]
        keys = np.unique(query)
        if len(keys) >= _NODE_LIMIT:
            raise UnsupportedModelError(f"{len(keys)} distinct {n}-gram prefixes exceed the scorer's limit")
        node = np.full(len(ids), -1, dtype=np.int64)
        node[rows] = np.searchsorted(keys, query)
        keys_by_level.append(keys)
        feature_node.append(np.where(lengths == n, node, -1))
    return keys_by_level, feature_node


def export(pipeline, model_dir) -> Path:
    """Write ``linear_scorer.npz`` for a fitted default-model pipeline into ``model_dir``; return its path.

    Raises :class:`UnsupportedModelError` for a pipeline it cannot reproduce exactly (the character n-gram
    branch, another analyzer, stop words, a non-binary classifier ...): such a model is served from joblib.
    """
    vectorizer = _word_vectorizer(pipeline)
    dtype = np.dtype(vectorizer.dtype)
    if dtype.name not in _DTYPES:
        raise UnsupportedModelError(f"vectorizer dtype {dtype} is not float32 or float64")
    idf = np.asarray(vectorizer.idf_).astype(dtype)
    folded, intercept = _folded_weights(pipeline, len(vectorizer.vocabulary_))
    tokens, ids, lengths = _split_vocabulary(vectorizer)
    keys_by_level, feature_node = _trie(ids, lengths, len(tokens))
    offsets = np.cumsum([0] + [len(keys) for keys in keys_by_level])
    node_idf = np.zeros(offsets[-1], dtype=dtype)  # 0 marks a node that is only a prefix, not a feature
    node_coef = np.zeros(offsets[-1], dtype=np.float64)
    for level, nodes in enumerate(feature_node):
        features = np.flatnonzero(nodes >= 0)
        node_idf[offsets[level] + nodes[features]] = idf[features]
        node_coef[offsets[level] + nodes[features]] = folded[features]
    encoded = [token.encode("utf-8") for token in tokens]
    header = {
        "format_version": FORMAT_VERSION,
        "kind": KIND,
        "token_pattern": vectorizer.token_pattern,
        "lowercase": bool(vectorizer.lowercase),
        "ngram_range": [int(n) for n in vectorizer.ngram_range],
        "sublinear_tf": bool(vectorizer.sublinear_tf),
        "dtype": dtype.name,
        "n_features": len(vectorizer.vocabulary_),
        "n_tokens": len(tokens),
        "library_versions": _library_versions(),
    }
    arrays = {
        "header": np.frombuffer(json.dumps(header, sort_keys=True).encode("utf-8"), dtype=np.uint8),
        "token_bytes": np.frombuffer(b"".join(encoded), dtype=np.uint8),
        "token_ends": np.cumsum([len(b) for b in encoded], dtype=np.int64),
        "level_offsets": offsets.astype(np.int64),
        "node_idf": node_idf,
        "node_coef": node_coef,
        "intercept": np.array([intercept], dtype=np.float64),
    }
    for n, keys in enumerate(keys_by_level[1:], start=2):
        arrays[f"table_keys_{n}"], arrays[f"table_nodes_{n}"] = _hash_table(keys)
    path = Path(model_dir) / SCORER_FILENAME
    with open(path, "wb") as handle:  # uncompressed: loads at disk speed (model.tar.gz compresses it anyway)
        np.savez(handle, **arrays)
    return path


def _library_versions() -> dict[str, str]:
    """Versions recorded in the header: the exporting interpreter's Python, numpy and scikit-learn."""
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    if "sklearn" in sys.modules:
        versions["scikit-learn"] = sys.modules["sklearn"].__version__
    return versions


# --- hash tables of trie nodes ----------------------------------------------------------------------------------
def _home_slots(keys: np.ndarray, bits: int) -> np.ndarray:
    """The first slot to probe for each key: the top ``bits`` bits of ``key * 2**64/phi`` (stable across runs)."""
    return ((keys.astype(np.uint64) * _FIBONACCI) >> np.uint64(64 - bits)).astype(np.int64)


def _hash_table(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Open addressing with linear probing, at most half full: (slot -> key, slot -> node id = rank of the key).

    Built vectorised: each round, every pending key whose slot is free claims it (the first one per slot
    wins) and the others move one slot on, which is exactly sequential linear-probing insertion.
    """
    bits = max(1, (2 * len(keys) - 1).bit_length())
    size = 1 << bits
    table_keys = np.full(size, _EMPTY, dtype=np.int64)
    table_nodes = np.full(size, _EMPTY, dtype=np.int32)
    pending = np.arange(len(keys))
    slot = _home_slots(keys, bits)
    while len(pending):
        free = np.flatnonzero(table_keys[slot] == _EMPTY)
        claimed, first = np.unique(slot[free], return_index=True)
        winners = pending[free[first]]
        table_keys[claimed] = keys[winners]
        table_nodes[claimed] = winners
        moving = np.ones(len(pending), dtype=bool)
        moving[free[first]] = False
        pending, slot = pending[moving], (slot[moving] + 1) & (size - 1)
    return table_keys, table_nodes


def _reach(table_keys: np.ndarray) -> int:
    """1 + the largest distance of a key from its first slot: no lookup needs to probe further."""
    occupied = np.flatnonzero(table_keys != _EMPTY)
    mask = len(table_keys) - 1
    return int(((occupied - _home_slots(table_keys[occupied], mask.bit_length())) & mask).max(initial=0)) + 1


def _probe(table: tuple[np.ndarray, np.ndarray, int], query: np.ndarray) -> np.ndarray:
    """Node id of each query key in ``table`` = (slot -> key, slot -> node, reach); -1 where a key is absent.

    Probing goes slot by slot (always for the first slot) while many queries are left, then settles the last few
    at once over the rest of their ``reach`` (a cluster can be 30 slots long: one numpy round per slot would cost
    a small batch dearly).
    """
    table_keys, table_nodes, reach = table
    mask = len(table_keys) - 1
    slot = _home_slots(query, mask.bit_length())
    node = np.full(len(query), _EMPTY, dtype=np.int64)
    todo = np.arange(len(query))
    for step in range(reach):
        if step and len(todo) <= _FEW_LEFT:
            window = (slot[:, None] + np.arange(reach - step)) & mask
            matches = table_keys[window] == query[todo][:, None]
            hit = matches.any(axis=1)
            node[todo[hit]] = table_nodes[window[hit, matches[hit].argmax(axis=1)]]
            break
        found = table_keys[slot]
        hit = found == query[todo]
        node[todo[hit]] = table_nodes[slot[hit]]
        going_on = ~hit & (found != _EMPTY)
        todo, slot = todo[going_on], (slot[going_on] + 1) & mask
    return node


_ASCII_LOWER = np.arange(256, dtype=np.uint8)
_ASCII_LOWER[ord("A") : ord("Z") + 1] += 32
_ASCII_IS_WORD = np.array([chr(c).isalnum() or chr(c) == "_" for c in range(128)] + [False] * 128)
_ASCII_IS_MARK = np.isin(np.arange(256), [ord("!"), ord("?")])
_BYTE_MASKS = np.array([(1 << (8 * n)) - 1 for n in range(9)], dtype=np.uint64)


class _AsciiTokenIds:
    """Token ids of ASCII texts under the default token pattern, found on the bytes without a string per token.

    In ASCII the pattern's tokens are the runs of [0-9A-Za-z_] and each "!" or "?". A token of at most 8 bytes
    is its bytes packed into one integer (exact: ASCII bytes of a token are never 0), looked up in a hash table;
    a longer token (under a tenth of them in reviews) is sliced out and looked up in a dict.
    """

    def __init__(self, tokens: list[str], lowercase: bool):
        short, self._long = {}, {}
        for token_id, token in enumerate(tokens, start=1):
            if token.isascii():
                raw = token.encode("ascii")
                if len(raw) <= 8:
                    short[int.from_bytes(raw, "little")] = token_id
                else:
                    self._long[raw] = token_id
        keys = np.fromiter(short, dtype=np.int64, count=len(short))
        order = np.argsort(keys)
        table_keys, table_nodes = _hash_table(keys[order])
        self._table = (table_keys, table_nodes, _reach(table_keys))
        self._short_ids = np.append(np.fromiter(short.values(), dtype=np.int64, count=len(short))[order], 0)
        self._lowercase = lowercase

    def __call__(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(token ids with a 0 after each document, tokens per document counting that 0)."""
        data = np.frombuffer("\x00".join(texts).encode("ascii"), dtype=np.uint8)
        if self._lowercase:
            data = _ASCII_LOWER[data]
        edges = np.diff(np.concatenate(([False], _ASCII_IS_WORD[data], [False])).view(np.int8))
        run_starts, run_ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        length_at = np.zeros(len(data), dtype=np.int64)
        length_at[run_starts] = run_ends - run_starts
        length_at[_ASCII_IS_MARK[data]] = 1
        position = np.flatnonzero(length_at)
        ids = self._lookup(data, position, length_at[position])
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        doc_begins = np.cumsum(lengths + 1) - (lengths + 1)  # the 0 byte between documents is no token
        doc = np.searchsorted(doc_begins, position, side="right") - 1
        with_ends = np.zeros(len(ids) + len(texts), dtype=np.int64)
        with_ends[np.arange(len(ids)) + doc] = ids
        return with_ends, np.bincount(doc, minlength=len(texts)) + 1

    def _lookup(self, data: np.ndarray, position: np.ndarray, length: np.ndarray) -> np.ndarray:
        padded = np.concatenate([data, np.zeros(8, dtype=np.uint8)])
        windows = np.lib.stride_tricks.sliding_window_view(padded, 8)[position]
        packed = windows.view("<u8").ravel() & _BYTE_MASKS[np.minimum(length, 8)]
        is_short = length <= 8
        node = _probe(self._table, packed[is_short].view(np.int64))
        ids = np.zeros(len(position), dtype=np.int64)
        ids[is_short] = self._short_ids[node]  # node -1 (not found) picks the appended 0
        long_tokens = np.flatnonzero(~is_short)
        if len(long_tokens):
            raw, get = data.tobytes(), self._long.get
            spans = zip(position[long_tokens].tolist(), (position + length)[long_tokens].tolist(), strict=True)
            ids[long_tokens] = [get(raw[begin:end], 0) for begin, end in spans]
        return ids


def _interleave(in_first: np.ndarray, first: tuple, second: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Merge the (ids, lengths) of two groups of documents back into document order."""
    lengths = np.empty(len(in_first), dtype=np.int64)
    lengths[in_first], lengths[~in_first] = first[1], second[1]
    begins = np.cumsum(lengths) - lengths
    merged = np.empty(int(lengths.sum()), dtype=np.int64)
    for members, (ids, group_lengths) in ((in_first, first), (~in_first, second)):
        group_begins = np.cumsum(group_lengths) - group_lengths
        merged[np.repeat(begins[members] - group_begins, group_lengths) + np.arange(len(ids))] = ids
    return merged, lengths


def _word_tokenizer(token_pattern: str):
    """``findall`` of the vectorizer's token pattern, with a translate/split fast path for the default pattern."""
    findall = re.compile(token_pattern).findall
    if token_pattern != WORD_TOKEN_PATTERN:
        return findall

    def tokenize(text: str) -> list[str]:
        if not text.isascii():
            return findall(text)
        return text.translate(_ASCII_NON_WORD).replace("!", " ! ").replace("?", " ? ").split()

    return tokenize


# --- scoring (serving time) -------------------------------------------------------------------------------------
class LinearScorer:
    """The exported default model: ``positive_probability(texts)`` equals the pipeline's ``predict_proba[:, 1]``.

    Also answers ``predict_proba`` and ``classes_`` like the scikit-learn pipeline, so callers written for
    ``model.joblib`` work unchanged.
    """

    classes_ = np.array([0, 1])

    def __init__(self, header: dict, arrays: dict[str, np.ndarray], tokens: list[str], path: Path):
        self.header = header
        self.path = path
        self._token_id = {token: i for i, token in enumerate(tokens, start=1)}
        self._tokenize = _word_tokenizer(header["token_pattern"])
        fast = header["token_pattern"] == WORD_TOKEN_PATTERN
        self._ascii = _AsciiTokenIds(tokens, header["lowercase"]) if fast else None
        self._lowercase = header["lowercase"]
        self._min_n, self._max_n = header["ngram_range"]
        self._sublinear = header["sublinear_tf"]
        self._dtype = _DTYPES[header["dtype"]]
        self._k = header["n_tokens"] + 1
        self._tables = {
            n: (arrays[f"table_keys_{n}"], arrays[f"table_nodes_{n}"], _reach(arrays[f"table_keys_{n}"]))
            for n in range(2, self._max_n + 1)
        }
        self._offsets = arrays["level_offsets"]
        self._idf = arrays["node_idf"]
        self._coef = arrays["node_coef"]
        self._intercept = float(arrays["intercept"][0])
        self._check_shapes()
        self._has_child = self._children()

    @classmethod
    def load(cls, model_dir) -> LinearScorer:
        """Read ``<model_dir>/linear_scorer.npz``; :class:`ScorerFileError` names the file on any problem."""
        path = Path(model_dir) / SCORER_FILENAME
        if not path.is_file():
            raise ScorerFileError(f"scorer file {path} not found")
        try:
            with np.load(path, allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
            header = json.loads(arrays.pop("header").tobytes().decode("utf-8"))
        except Exception as error:  # zipfile, numpy and json each raise their own kinds
            raise ScorerFileError(f"scorer file {path} is unreadable: {type(error).__name__}: {error}") from None
        if not isinstance(header, dict) or header.get("format_version") != FORMAT_VERSION:
            found = header.get("format_version") if isinstance(header, dict) else None
            raise ScorerFileError(
                f"scorer file {path} has format version {found!r}; this code reads version {FORMAT_VERSION}"
            )
        try:
            tokens = _decode_tokens(arrays.pop("token_bytes"), arrays.pop("token_ends"))
            return cls(header, arrays, tokens, path)
        except (KeyError, ValueError, IndexError, UnicodeDecodeError) as error:
            raise ScorerFileError(f"scorer file {path} is incomplete or inconsistent: {error!r}") from None

    def _check_shapes(self) -> None:
        sizes = [self._k] + [int((self._tables[n][0] != _EMPTY).sum()) for n in range(2, self._max_n + 1)]
        expected = np.cumsum([0] + sizes)
        if not np.array_equal(self._offsets, expected) or not len(self._idf) == len(self._coef) == expected[-1]:
            raise ValueError("node arrays do not match the trie levels")
        if len(self._token_id) != self.header["n_tokens"]:
            raise ValueError(f"{len(self._token_id)} tokens, header says {self.header['n_tokens']}")

    def _children(self) -> dict[int, np.ndarray]:
        """Per length n < max_n: which nodes start a longer node (only those are extended by one token)."""
        has_child = {}
        for n in range(1, self._max_n):
            keys = self._tables[n + 1][0]
            flags = np.zeros(self._offsets[n] - self._offsets[n - 1], dtype=bool)
            flags[keys[keys != _EMPTY] // self._k] = True
            has_child[n] = flags
        return has_child

    def positive_probability(self, texts) -> np.ndarray:
        """P(label = 1) for each text, in order (float64)."""
        decision = self.decision_function(texts)
        return 1.0 / (1.0 + np.exp(-decision))

    def predict_proba(self, texts) -> np.ndarray:
        """``[[P(0), P(1)], ...]`` like the pipeline's ``predict_proba``."""
        positive = self.positive_probability(texts)
        return np.stack([1.0 - positive, positive], axis=1)

    def decision_function(self, texts) -> np.ndarray:
        """The logistic regression's decision value for each text."""
        texts = list(texts)
        docs, nodes, counts = self._feature_counts(texts)
        tf = counts.astype(self._dtype)
        if self._sublinear:
            np.log(tf, out=tf)
            tf += self._dtype(1.0)
        value = tf * self._idf[nodes]  # in the vectorizer's dtype, as TfidfTransformer does
        squares = np.bincount(docs, weights=value * value, minlength=len(texts))
        normalised = (value / np.sqrt(squares)[docs]).astype(self._dtype)
        return np.bincount(docs, weights=normalised * self._coef[nodes], minlength=len(texts)) + self._intercept

    def _token_ids(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids of the batch end to end, each document followed by a 0 (0 = out of vocabulary too),
        and the end of each document in that array."""
        if self._ascii is None or len(texts) < _BYTE_PATH_MIN_TEXTS:
            ids, lengths = self._regex_token_ids(texts)
        else:
            is_ascii = np.fromiter(map(str.isascii, texts), dtype=bool, count=len(texts))
            if is_ascii.all():
                ids, lengths = self._ascii(texts)
            else:
                pick = is_ascii.tolist()
                ascii_part = self._ascii([text for text, keep in zip(texts, pick, strict=True) if keep])
                other_part = self._regex_token_ids([text for text, keep in zip(texts, pick, strict=True) if not keep])
                ids, lengths = _interleave(is_ascii, ascii_part, other_part)
        return ids, np.cumsum(lengths)

    def _regex_token_ids(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(token ids with a 0 after each document, tokens per document counting that 0), via the token pattern."""
        tokenize = self._tokenize
        if self._lowercase:
            tokenized = [tokenize(text.lower()) for text in texts]
        else:
            tokenized = [tokenize(text) for text in texts]
        for tokens in tokenized:
            tokens.append("")  # never a vocabulary token: ends every n-gram window at the document's end
        lengths = np.fromiter(map(len, tokenized), dtype=np.int64, count=len(tokenized))
        flat = chain.from_iterable(tokenized)
        ids = np.fromiter(map(self._token_id.get, flat, repeat(0)), dtype=np.int64, count=int(lengths.sum()))
        return ids, lengths

    def _feature_counts(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(document, global node, count) for every vocabulary n-gram present, like CountVectorizer's matrix."""
        ids, ends = self._token_ids(texts)
        starts = np.flatnonzero(ids)  # windows of length 1 whose token is known; their node is the token id
        node = ids[starts]
        found_starts, found_nodes = [], []
        for n in range(1, self._max_n + 1):
            if n > 1:
                extendable = self._has_child[n - 1][node]
                starts, node = starts[extendable], node[extendable]
                node = _probe(self._tables[n], node * self._k + ids[starts + n - 1])
                hit = node >= 0
                starts, node = starts[hit], node[hit]
            if n >= self._min_n:
                global_node = node + self._offsets[n - 1]
                is_feature = self._idf[global_node] > 0
                found_starts.append(starts[is_feature])
                found_nodes.append(global_node[is_feature])
        docs = np.searchsorted(ends, np.concatenate(found_starts), side="right")
        shift = np.int64(int(self._offsets[-1]).bit_length())  # (document, node) packed into one int64
        pairs, counts = np.unique((docs << shift) | np.concatenate(found_nodes), return_counts=True)
        return pairs >> shift, pairs & ((np.int64(1) << shift) - 1), counts


def _decode_tokens(token_bytes: np.ndarray, token_ends: np.ndarray) -> list[str]:
    blob = token_bytes.tobytes()
    begins = np.concatenate([[0], token_ends[:-1]]).tolist()
    return [blob[a:b].decode("utf-8") for a, b in zip(begins, token_ends.tolist(), strict=True)]
