"""The pure-Python peer the benchmark compares against: what NVIDIA DeepLearningExamples' BERT/ELECTRA data prep
(and google-research/bert, google-research/electra) run — BERT's ``FullTokenizer`` (``BasicTokenizer`` +
``WordpieceTokenizer``, ported faithfully from google-research/bert ``tokenization.py``, Apache-2.0) and a
Python packing loop that handles one sentence at a time, then one ``tf.train.Example`` per sequence.

``ReferencePacker`` is that per-sentence loop with this package's packing rules (``SequencePacker``'s
docstring): fed the same sentences with the same generator it must give the same sequences, which
``tests/data_prep`` checks; ``reference_build`` is the whole peer pipeline, lines → TFRecord file.
"""
from __future__ import annotations

import collections
import random
import unicodedata

from data_prep.tfrecord import encode_pretraining_example
from electra.data.tfrecord import TFRecordWriter


# ---------------------------------------------------------------------------------- BERT's tokenization.py

def load_vocab(vocab_file: str) -> collections.OrderedDict:
    vocab = collections.OrderedDict()
    with open(vocab_file, encoding="utf-8") as reader:
        for index, token in enumerate(reader):
            vocab[token.strip()] = index
    return vocab


def whitespace_tokenize(text: str) -> list[str]:
    text = text.strip()
    if not text:
        return []
    return text.split()


class FullTokenizer:
    """Runs end-to-end tokenization (google-research/bert)."""

    def __init__(self, vocab_file: str, do_lower_case: bool = True, max_input_chars_per_word: int = 200):
        self.vocab = load_vocab(vocab_file)
        self.basic_tokenizer = BasicTokenizer(do_lower_case=do_lower_case)
        self.wordpiece_tokenizer = WordpieceTokenizer(vocab=self.vocab,
                                                      max_input_chars_per_word=max_input_chars_per_word)

    def tokenize(self, text: str) -> list[str]:
        split_tokens = []
        for token in self.basic_tokenizer.tokenize(text):
            for sub_token in self.wordpiece_tokenizer.tokenize(token):
                split_tokens.append(sub_token)
        return split_tokens

    def convert_tokens_to_ids(self, tokens: list[str]) -> list[int]:
        return [self.vocab[token] for token in tokens]


class BasicTokenizer:
    """Punctuation splitting, lower casing, accent stripping, CJK spacing."""

    def __init__(self, do_lower_case: bool = True):
        self.do_lower_case = do_lower_case

    def tokenize(self, text: str) -> list[str]:
        text = self._clean_text(text)
        text = self._tokenize_chinese_chars(text)
        orig_tokens = whitespace_tokenize(text)
        split_tokens = []
        for token in orig_tokens:
            if self.do_lower_case:
                token = token.lower()
                token = self._run_strip_accents(token)
            split_tokens.extend(self._run_split_on_punc(token))
        return whitespace_tokenize(" ".join(split_tokens))

    def _run_strip_accents(self, text: str) -> str:
        text = unicodedata.normalize("NFD", text)
        output = []
        for char in text:
            if unicodedata.category(char) == "Mn":
                continue
            output.append(char)
        return "".join(output)

    def _run_split_on_punc(self, text: str) -> list[str]:
        chars = list(text)
        i = 0
        start_new_word = True
        output: list[list[str]] = []
        while i < len(chars):
            char = chars[i]
            if _is_punctuation(char):
                output.append([char])
                start_new_word = True
            else:
                if start_new_word:
                    output.append([])
                start_new_word = False
                output[-1].append(char)
            i += 1
        return ["".join(x) for x in output]

    def _tokenize_chinese_chars(self, text: str) -> str:
        output = []
        for char in text:
            if self._is_chinese_char(ord(char)):
                output.append(" ")
                output.append(char)
                output.append(" ")
            else:
                output.append(char)
        return "".join(output)

    @staticmethod
    def _is_chinese_char(cp: int) -> bool:
        return ((0x4E00 <= cp <= 0x9FFF) or (0x3400 <= cp <= 0x4DBF) or (0x20000 <= cp <= 0x2A6DF)
                or (0x2A700 <= cp <= 0x2B73F) or (0x2B740 <= cp <= 0x2B81F) or (0x2B820 <= cp <= 0x2CEAF)
                or (0xF900 <= cp <= 0xFAFF) or (0x2F800 <= cp <= 0x2FA1F))

    def _clean_text(self, text: str) -> str:
        output = []
        for char in text:
            cp = ord(char)
            if cp == 0 or cp == 0xFFFD or _is_control(char):
                continue
            if _is_whitespace(char):
                output.append(" ")
            else:
                output.append(char)
        return "".join(output)


class WordpieceTokenizer:
    """Greedy longest-match-first WordPiece."""

    def __init__(self, vocab, unk_token: str = "[UNK]", max_input_chars_per_word: int = 200):
        self.vocab = vocab
        self.unk_token = unk_token
        self.max_input_chars_per_word = max_input_chars_per_word

    def tokenize(self, text: str) -> list[str]:
        output_tokens = []
        for token in whitespace_tokenize(text):
            chars = list(token)
            if len(chars) > self.max_input_chars_per_word:
                output_tokens.append(self.unk_token)
                continue
            is_bad = False
            start = 0
            sub_tokens = []
            while start < len(chars):
                end = len(chars)
                cur_substr = None
                while start < end:
                    substr = "".join(chars[start:end])
                    if start > 0:
                        substr = "##" + substr
                    if substr in self.vocab:
                        cur_substr = substr
                        break
                    end -= 1
                if cur_substr is None:
                    is_bad = True
                    break
                sub_tokens.append(cur_substr)
                start = end
            if is_bad:
                output_tokens.append(self.unk_token)
            else:
                output_tokens.extend(sub_tokens)
        return output_tokens


def _is_whitespace(char: str) -> bool:
    if char in (" ", "\t", "\n", "\r"):
        return True
    return unicodedata.category(char) == "Zs"


def _is_control(char: str) -> bool:
    if char in ("\t", "\n", "\r"):
        return False
    return unicodedata.category(char) in ("Cc", "Cf")


def _is_punctuation(char: str) -> bool:
    cp = ord(char)
    if (33 <= cp <= 47) or (58 <= cp <= 64) or (91 <= cp <= 96) or (123 <= cp <= 126):
        return True
    return unicodedata.category(char).startswith("P")


# ---------------------------------------------------------------------------------- per-sentence packing

class ReferencePacker:
    """One sentence at a time (``add_sentence`` / ``end_document`` → ``(ids, mask, segments)`` or None)."""

    def __init__(self, max_seq_length: int, cls_id: int, sep_id: int, pad_id: int, rng: random.Random,
                 short_seq_prob: float = 0.05, single_segment_prob: float = 0.1):
        self.max_len, self.short_seq_prob, self.single_segment_prob = max_seq_length, short_seq_prob, \
            single_segment_prob
        self.cls_id, self.sep_id, self.pad_id, self.rng = cls_id, sep_id, pad_id, rng
        self._sentences: list[list[int]] = []
        self._length = 0
        self._target = max_seq_length

    def add_sentence(self, ids: list[int]):
        if not ids:
            return None
        self._sentences.append(ids)
        self._length += len(ids)
        return self._pack() if self._length >= self._target else None

    def end_document(self):
        return self._pack() if self._length else None

    def _pack(self):
        max_len, rng = self.max_len, self.rng
        first_budget = None if rng.random() < self.single_segment_prob else (self._target - 3) // 2
        first: list[int] = []
        second: list[int] = []
        for sentence in self._sentences:
            if first_budget is None:
                first += sentence
            elif second:
                second += sentence
            elif (not first or len(first) + len(sentence) < first_budget
                  or (len(first) < first_budget and rng.random() < 0.5)):
                first += sentence
            else:
                second += sentence
        first = first[:max_len - 2]
        second = second[:max(0, max_len - len(first) - 3)]
        self._sentences, self._length = [], 0
        self._target = rng.randint(5, max_len) if rng.random() < self.short_seq_prob else max_len
        ids = [self.cls_id, *first, self.sep_id]
        segments = [0] * len(ids)
        if second:
            ids += [*second, self.sep_id]
            segments += [1] * (len(second) + 1)
        pad = max_len - len(ids)
        return ids + [self.pad_id] * pad, [1] * len(ids) + [0] * pad, segments + [0] * pad


def reference_build(lines, tokenizer: FullTokenizer, output: str, max_seq_length: int, rng: random.Random,
                    special_ids: dict) -> int:
    """The peer pipeline: sentence lines (a blank line ends a document) → FullTokenizer → ids → per-sentence
    packing → one Example per sequence → ``output``. Returns the number of sequences."""
    packer = ReferencePacker(max_seq_length, special_ids["[CLS]"], special_ids["[SEP]"], special_ids["[PAD]"], rng)
    sequences = 0
    with TFRecordWriter(output) as writer:
        for line in [*lines, ""]:
            if line.strip():
                packed = packer.add_sentence(tokenizer.convert_tokens_to_ids(tokenizer.tokenize(line)))
            else:
                packed = packer.end_document()
            if packed is not None:
                writer.write(encode_pretraining_example(*packed))
                sequences += 1
    return sequences
