"""One tokenizer interface, two backends: BERT/ELECTRA WordPiece (``vocab.txt``) and SentencePiece (``.model``).

``load_tokenizer(path)`` picks the backend from the file (or from what a directory holds). Every backend gives
``tokenize``, ``encode``, ``encode_batch``, ``encode_with_offsets`` (character offsets into the ORIGINAL text,
what SQuAD needs to map answers back), id/token conversion, the special-token ids and ``save``.

WordPiece runs on Hugging Face ``tokenizers`` (Rust): BERT's normalizer (drop NUL/U+FFFD/control characters,
whitespace → space, spaces around CJK ideographs, accent stripping when uncased), BERT's pre-tokenizer (split on
whitespace and punctuation) and greedy longest-match-first WordPiece with ``##`` continuations; a word longer
than 100 characters, or one the vocabulary cannot cover, becomes ``[UNK]``. Uncased text is lower-cased in
Python before the Rust pipeline, with ``str.lower`` like Google's BERT (so a word-final capital sigma becomes
``ς`` as in BERT, and lower-casing happens before accent stripping, as in BERT).

Vocabularies trained by ``data_prep.build_vocab`` put the special tokens first: ``[PAD]=0, [UNK]=1, [CLS]=2,
[SEP]=3, [MASK]=4``. Google's released vocabularies have ``[PAD]=0, [UNK]=100, [CLS]=101, [SEP]=102,
[MASK]=103``; always use the ``*_id`` attributes, never constants.
"""
from __future__ import annotations

import abc
import json
import os
import re
import shutil
from itertools import chain
from collections.abc import Iterable, Sequence

from electra.io import atomic_write, write_text

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
MAX_INPUT_CHARS_PER_WORD = 100
CONFIG_NAME = "tokenizer_config.json"
VOCAB_NAME = "vocab.txt"
SPM_NAME = "spm.model"

# Fast path of BERT's basic tokenizer for text made only of ASCII plus common punctuation, spaces and invisible
# format characters (most English text): there the normalizer and pre-tokenizer reduce to "drop control/format
# characters, lower-case ASCII, words = runs of ASCII letters/digits, every punctuation character a token". The
# sets below are Unicode categories P*, Zs and Cc/Cf, stable since long before the Unicode versions in use.
_ASCII_PUNCT = r"!-/:-@\[-`{-~"
_OTHER_PUNCT = r"\u00a1\u00a7\u00ab\u00b6\u00b7\u00bb\u00bf\u2010-\u2027\u2030-\u2043\u2045-\u2051\u2053-\u205e"
_FAST_SPACE = r"\t\n\r \u00a0\u2000-\u200a\u202f\u205f"
_FAST_CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff"
_FAST_ALLOWED = re.compile(f"[^\\x00-\\x7f{_OTHER_PUNCT}{_FAST_SPACE}{_FAST_CONTROL}]").search
_FAST_CONTROLS = re.compile(f"[{_FAST_CONTROL}]")
_FAST_WORDS = re.compile(f"[A-Za-z0-9]+|[{_ASCII_PUNCT}{_OTHER_PUNCT}]").findall
_WORD_CACHE_LIMIT = 1_000_000

# SentencePiece models (ALBERT/T5 style) may spell the special tokens like this instead.
_SPM_ALIASES = {"[PAD]": ("[PAD]", "<pad>"), "[UNK]": ("[UNK]", "<unk>"), "[CLS]": ("[CLS]", "<cls>"),
                "[SEP]": ("[SEP]", "<sep>"), "[MASK]": ("[MASK]", "<mask>")}


class TokenizerError(ValueError):
    """A vocabulary or model file that cannot be used (missing, unreadable, lacking special tokens)."""


class Tokenizer(abc.ABC):
    """The interface the data pipeline, pretraining and SQuAD code rely on."""

    backend: str
    lower_case: bool
    pad_id: int
    unk_id: int
    cls_id: int
    sep_id: int
    mask_id: int

    @property
    @abc.abstractmethod
    def vocab_size(self) -> int:
        """Number of ids (the model's vocabulary size must be at least this)."""

    @property
    def special_ids(self) -> dict[str, int]:
        return {"[PAD]": self.pad_id, "[UNK]": self.unk_id, "[CLS]": self.cls_id, "[SEP]": self.sep_id,
                "[MASK]": self.mask_id}

    def _prepare(self, text: str) -> str:
        """Both backends: reject non-str, drop lone surrogates, lower-case (with accent stripping) as BERT does."""
        if not isinstance(text, str):
            raise TypeError(f"expected str, got {type(text).__name__}")
        text = _no_surrogates(text)
        return _bert_lower(text) if self.lower_case else text

    @abc.abstractmethod
    def tokenize(self, text: str) -> list[str]:
        """Text → token strings (no [CLS]/[SEP] added)."""

    @abc.abstractmethod
    def encode(self, text: str) -> list[int]:
        """Text → ids (no [CLS]/[SEP] added)."""

    @abc.abstractmethod
    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """Many texts → ids each; the fast path (one call into the native library)."""

    @abc.abstractmethod
    def encode_with_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Text → (ids, [(start, end)]) where ``text[start:end]`` is the span of the original text that each
        token came from (a ``##`` piece covers only its own characters)."""

    @abc.abstractmethod
    def convert_ids_to_tokens(self, ids: Iterable[int]) -> list[str]:
        ...

    @abc.abstractmethod
    def convert_tokens_to_ids(self, tokens: Iterable[str]) -> list[int]:
        """Unknown tokens map to ``unk_id``."""

    @abc.abstractmethod
    def save(self, directory: str | os.PathLike) -> str:
        """Write the vocabulary/model and ``tokenizer_config.json`` into ``directory``; returns the file
        ``load_tokenizer`` should be given (the directory itself works too)."""

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(vocab_size={self.vocab_size}, lower_case={self.lower_case}, "
                f"special_ids={self.special_ids})")

    def _write_config(self, directory: str, filename: str) -> None:
        config = {"backend": self.backend, "file": filename, "lower_case": self.lower_case,
                  "special_ids": self.special_ids, "vocab_size": self.vocab_size}
        write_text(os.path.join(directory, CONFIG_NAME), json.dumps(config, indent=2) + "\n")


def _check_file(path: str, what: str) -> None:
    if not os.path.exists(path):
        raise TokenizerError(f"{what} not found: {path}")
    if not os.path.isfile(path):
        raise TokenizerError(f"{what} is not a file: {path}")


def _bert_lower(text: str) -> str:
    # Google's BERT lower-cases with str.lower (final sigma included) and strips accents afterwards. 'İ' is the
    # one character whose lower case is two characters ('i' + combining dot, which accent stripping removes):
    # mapping it to 'I' first gives the same tokens and keeps one character per character, so offsets hold.
    if "\u0130" in text:
        text = text.replace("\u0130", "I")
    return text.lower()


def _no_surrogates(text: str) -> str:
    # A str may hold lone surrogates (e.g. from surrogateescape); the Rust and C++ libraries reject them. BERT
    # drops them as control characters; U+FFFD is dropped the same way by the normalizer and keeps offsets.
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)


class WordPieceTokenizer(Tokenizer):
    """BERT WordPiece from a ``vocab.txt`` (one token a line; the line number is the id). A token on two lines is
    an error naming both lines: it would make ``vocab_size`` count ids that no token maps to."""

    backend = "wordpiece"

    def __init__(self, vocab_file: str | os.PathLike, lower_case: bool = True,
                 max_input_chars_per_word: int = MAX_INPUT_CHARS_PER_WORD):
        from tokenizers import Tokenizer as RustTokenizer
        from tokenizers import models, normalizers, pre_tokenizers

        vocab_file = os.fspath(vocab_file)
        _check_file(vocab_file, "WordPiece vocabulary")
        try:
            with open(vocab_file, encoding="utf-8") as f:
                tokens = [line.rstrip("\r\n") for line in f]
        except UnicodeDecodeError as e:
            raise TokenizerError(f"WordPiece vocabulary {vocab_file} is not UTF-8 text (byte {e.start})") from e
        while tokens and not tokens[-1]:
            tokens.pop()
        if not tokens:
            raise TokenizerError(f"WordPiece vocabulary {vocab_file} is empty")
        vocab: dict[str, int] = {}
        for index, token in enumerate(tokens):
            first = vocab.setdefault(token, index)
            if first != index:   # the ids after it would not match a model trained with this vocabulary's size
                raise TokenizerError(f"WordPiece vocabulary {vocab_file}: token {token!r} appears twice, on line "
                                     f"{first + 1} and line {index + 1}; every line must hold a distinct token")
        missing = [t for t in SPECIAL_TOKENS if t not in vocab]
        if missing:
            raise TokenizerError(f"WordPiece vocabulary {vocab_file} lacks the special token(s) "
                                 f"{', '.join(missing)} (needs all of {', '.join(SPECIAL_TOKENS)})")
        self.vocab_file = vocab_file
        self.lower_case = bool(lower_case)
        self._tokens = tokens
        self._vocab = vocab
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = (vocab[t] for t in SPECIAL_TOKENS)

        rust = RustTokenizer(models.WordPiece(vocab, unk_token="[UNK]", continuing_subword_prefix="##",
                                              max_input_chars_per_word=max_input_chars_per_word))
        # Lower-casing happens in Python (see _bert_lower); accent stripping, cleaning and CJK spacing in Rust.
        rust.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                     strip_accents=self.lower_case, lowercase=False)
        rust.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        self._rust = rust
        self._max_word_chars = max_input_chars_per_word
        self._word_cache: dict[str, list[int]] = {}

    @property
    def vocab_size(self) -> int:
        return len(self._tokens)

    @property
    def vocab(self) -> dict[str, int]:
        return dict(self._vocab)

    def tokenize(self, text: str) -> list[str]:
        return self._rust.encode(self._prepare(text), add_special_tokens=False).tokens

    def encode(self, text: str) -> list[int]:
        return self.encode_batch([text])[0]

    def wordpiece_ids(self, word: str) -> list[int]:
        """The WordPiece ids of one already-split word. A word that is itself in the vocabulary (within the length
        limit) is its own single piece — WordPiece's greedy longest match takes the whole word first — so only
        the others go to the Rust model."""
        if len(word) <= self._max_word_chars:
            whole = self._vocab.get(word)
            if whole is not None:
                return [whole]
        return [t.id for t in self._rust.model.tokenize(word)]

    def _word_ids(self, word: str) -> list[int]:
        if len(self._word_cache) >= _WORD_CACHE_LIMIT:
            self._word_cache.clear()
        ids = self._word_cache[word] = self.wordpiece_ids(word)
        return ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """Texts of ASCII, common punctuation and spaces take a fast path (see ``_FAST_WORDS``): each distinct
        word goes through the Rust WordPiece model once and is cached. Other texts run the whole Rust pipeline,
        in one batch. Both give the same ids (tested against each other and against a BERT reference)."""
        texts = list(texts)
        if not texts:
            return []
        if all(type(t) is str for t in texts):
            joined = "\n".join(texts)
            if joined.isascii() or _FAST_ALLOWED(joined) is None:   # the whole batch takes the fast path
                parts = self._fast_normalize(joined).split("\n")
                if len(parts) == len(texts):                         # (no text had a newline of its own)
                    return self._fast_ids(parts)
        out: list[list[int] | None] = [None] * len(texts)
        fast_index, fast_text, rest_index, rest_text = [], [], [], []
        for i, text in enumerate(texts):
            if isinstance(text, str) and (text.isascii() or _FAST_ALLOWED(text) is None):
                fast_index.append(i)
                fast_text.append(self._fast_normalize(text))
            else:
                rest_index.append(i)
                rest_text.append(self._prepare(text))
        for i, ids in zip(fast_index, self._fast_ids(fast_text)):
            out[i] = ids
        if rest_text:
            for i, encoding in zip(rest_index, self._rust.encode_batch_fast(rest_text, add_special_tokens=False)):
                out[i] = encoding.ids
        return out  # type: ignore[return-value]

    def _fast_normalize(self, text: str) -> str:
        if self.lower_case:
            text = text.lower()
        if _FAST_CONTROLS.search(text):
            text = _FAST_CONTROLS.sub("", text)
        return text

    def _fast_ids(self, parts: list[str]) -> list[list[int]]:
        lookup = self._word_cache.__getitem__
        try:
            return [list(chain.from_iterable(map(lookup, _FAST_WORDS(part)))) for part in parts]
        except KeyError:                      # a word not seen yet: WordPiece it once and cache it
            get, wordpiece = self._word_cache.get, self._word_ids
            return [[i for word in _FAST_WORDS(part) for i in (get(word) or wordpiece(word))] for part in parts]

    def encode_with_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        encoding = self._rust.encode(self._prepare(text), add_special_tokens=False)
        return encoding.ids, [tuple(o) for o in encoding.offsets]

    def convert_ids_to_tokens(self, ids: Iterable[int]) -> list[str]:
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self._tokens):
                raise IndexError(f"token id {i} outside the vocabulary (size {len(self._tokens)})")
            out.append(self._tokens[i])
        return out

    def convert_tokens_to_ids(self, tokens: Iterable[str]) -> list[int]:
        return [self._vocab.get(t, self.unk_id) for t in tokens]

    def save(self, directory: str | os.PathLike) -> str:
        directory = os.fspath(directory)
        path = os.path.join(directory, VOCAB_NAME)
        write_text(path, "".join(t + "\n" for t in self._tokens))
        self._write_config(directory, VOCAB_NAME)
        return path


def _varint_at(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _parse_sentencepiece_text(data: bytes) -> list[tuple[int, int, int]]:
    """(id, begin, end) of each piece in a serialized ``SentencePieceText`` (pieces = field 2; in a piece,
    id = 2, begin = 4, end = 5, as UTF-8 byte offsets into the input). A few lines of wire-format reading
    instead of depending on sentencepiece's changing Python proto wrappers."""
    pieces, pos = [], 0
    while pos < len(data):
        key, pos = _varint_at(data, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, pos = _varint_at(data, pos)
            continue
        if wire == 5:
            pos += 4
            continue
        if wire == 1:
            pos += 8
            continue
        size, pos = _varint_at(data, pos)
        if field == 2:
            values, inner, stop = {2: 0, 4: 0, 5: 0}, pos, pos + size
            while inner < stop:
                inner_key, inner = _varint_at(data, inner)
                if inner_key & 7 == 0:
                    value, inner = _varint_at(data, inner)
                    values[inner_key >> 3] = value
                elif inner_key & 7 == 2:
                    length, inner = _varint_at(data, inner)
                    inner += length
                else:
                    inner += 4 if inner_key & 7 == 5 else 8
            pieces.append((values[2], values[4], values[5]))
        pos += size
    return pieces


class SentencePieceTokenizer(Tokenizer):
    """A SentencePiece ``.model``. Special tokens are ``[PAD] [UNK] [CLS] [SEP] [MASK]`` (or ALBERT/T5's
    ``<pad> <unk> <cls> <sep> <mask>`` spellings). ``lower_case`` lower-cases the input first (ALBERT-style);
    models trained by ``data_prep.build_vocab`` already case-fold in their normalizer."""

    backend = "sentencepiece"

    def __init__(self, model_file: str | os.PathLike, lower_case: bool = False):
        import sentencepiece as spm

        model_file = os.fspath(model_file)
        _check_file(model_file, "SentencePiece model")
        try:
            self._sp = spm.SentencePieceProcessor(model_file=model_file)
        except (OSError, RuntimeError) as e:
            raise TokenizerError(f"cannot load SentencePiece model {model_file}: {e}") from e
        self.model_file = model_file
        self.lower_case = bool(lower_case)
        ids, missing = {}, []
        for name, aliases in _SPM_ALIASES.items():
            found = [self._sp.piece_to_id(a) for a in aliases if self._piece_exists(a)]
            if found:
                ids[name] = found[0]
            elif name == "[UNK]":
                ids[name] = self._sp.unk_id()
            else:
                missing.append(name)
        if missing:
            raise TokenizerError(f"SentencePiece model {model_file} lacks the special token(s) "
                                 f"{', '.join(missing)} (needs all of {', '.join(SPECIAL_TOKENS)}, "
                                 f"or <pad>/<cls>/<sep>/<mask>)")
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = (ids[t] for t in SPECIAL_TOKENS)

    def _piece_exists(self, piece: str) -> bool:
        i = self._sp.piece_to_id(piece)
        return self._sp.id_to_piece(i) == piece

    @property
    def vocab_size(self) -> int:
        return self._sp.get_piece_size()

    def tokenize(self, text: str) -> list[str]:
        return self._sp.encode(self._prepare(text), out_type=str)

    def encode(self, text: str) -> list[int]:
        return self._sp.encode(self._prepare(text), out_type=int)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return self._sp.encode([self._prepare(t) for t in texts], out_type=int)

    def encode_with_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        prepared = self._prepare(text)
        pieces = _parse_sentencepiece_text(self._sp.encode(prepared, out_type="serialized_proto"))
        # SentencePiece reports UTF-8 byte offsets into its input; map them to character offsets.
        raw = prepared.encode("utf-8")
        char_at = [0] * (len(raw) + 1)
        pos = 0
        for index, ch in enumerate(prepared):
            width = len(ch.encode("utf-8"))
            for b in range(width):
                char_at[pos + b] = index
            pos += width
        char_at[len(raw)] = len(prepared)
        ids, offsets = [], []
        for piece_id, begin, end in pieces:
            start, end = char_at[begin], char_at[end]
            while start < end and prepared[start].isspace():  # the '▁' of a piece covers the space before it
                start += 1
            ids.append(piece_id)
            offsets.append((start, end))
        return ids, offsets

    def convert_ids_to_tokens(self, ids: Iterable[int]) -> list[str]:
        size = self.vocab_size
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < size:
                raise IndexError(f"token id {i} outside the vocabulary (size {size})")
            out.append(self._sp.id_to_piece(i))
        return out

    def convert_tokens_to_ids(self, tokens: Iterable[str]) -> list[int]:
        return [self._sp.piece_to_id(t) if self._piece_exists(t) else self.unk_id for t in tokens]

    def save(self, directory: str | os.PathLike) -> str:
        directory = os.fspath(directory)
        path = os.path.join(directory, SPM_NAME)
        if os.path.abspath(path) != os.path.abspath(self.model_file):
            with atomic_write(path, "wb") as out, open(self.model_file, "rb") as source:
                shutil.copyfileobj(source, out)
        self._write_config(directory, SPM_NAME)
        return path


def load_tokenizer(path: str | os.PathLike, lower_case: bool | None = None) -> Tokenizer:
    """A ``vocab.txt`` (WordPiece), a ``.model`` (SentencePiece), or a directory holding one of them.

    ``lower_case=None`` takes the setting saved in the directory's ``tokenizer_config.json`` when there is one,
    otherwise True for WordPiece (uncased BERT/ELECTRA) and False for SentencePiece.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise TokenizerError(f"tokenizer file not found: {path}")
    directory = path if os.path.isdir(path) else os.path.dirname(path) or "."
    config = {}
    config_path = os.path.join(directory, CONFIG_NAME)
    if os.path.isfile(config_path):
        try:
            with open(config_path, encoding="utf-8") as f:
                config = json.load(f)
        except (OSError, ValueError) as e:
            raise TokenizerError(f"unreadable tokenizer config {config_path}: {e}") from e
    if os.path.isdir(path):
        candidates = [config.get("file")] if config.get("file") else []
        candidates += [VOCAB_NAME, SPM_NAME, "spiece.model", "sentencepiece.model"]
        candidates += sorted(n for n in os.listdir(path) if n.endswith(".model"))
        found = [os.path.join(path, c) for c in candidates if os.path.isfile(os.path.join(path, c))]
        if not found:
            raise TokenizerError(f"no {VOCAB_NAME} or SentencePiece .model in directory {path}")
        path = found[0]
    elif config.get("file") and os.path.basename(path) != config["file"]:
        config = {}  # the config describes another file in the same directory
    if lower_case is None:
        lower_case = config.get("lower_case")
    if path.endswith(".model"):
        return SentencePieceTokenizer(path, lower_case=bool(lower_case) if lower_case is not None else False)
    if path.endswith(".txt") or os.path.basename(path).startswith("vocab"):
        return WordPieceTokenizer(path, lower_case=True if lower_case is None else bool(lower_case))
    raise TokenizerError(f"cannot tell the tokenizer type of {path}: expected a WordPiece vocab.txt or a "
                         f"SentencePiece .model")
