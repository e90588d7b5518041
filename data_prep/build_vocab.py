"""Train a vocabulary from sentence shards: BERT WordPiece (``vocab.txt``) or a SentencePiece model.

Both put the special tokens first, with the same ids:

    [PAD]=0  [UNK]=1  [CLS]=2  [SEP]=3  [MASK]=4

(Google's released BERT/ELECTRA vocabularies differ — [PAD]=0, [UNK]=100, [CLS]=101, [SEP]=102, [MASK]=103 —
which is why code reads the ids from the tokenizer.) WordPiece is trained with the ``tokenizers`` library on
text normalized exactly as ``electra.tokenization.WordPieceTokenizer`` normalizes it (uncased: lower-case +
strip accents). SentencePiece trains a unigram model; ``lower_case`` makes its normalizer case-fold
(``nmt_nfkc_cf``) so the model itself is uncased.

    python -m data_prep.build_vocab --input 'data/shards/train-*.txt' --output_dir data/vocab --vocab_size 30522
    python -m data_prep.build_vocab --type sentencepiece --input data/shards --output_dir data/spm
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence

from data_prep.common import DataPrepError, ERRORS_CHOICES, expand_inputs, iter_lines, log
from electra.commands.entry import Command
from electra.io import storing
from electra.configs import knob
from electra.tokenization import SPECIAL_TOKENS, SentencePieceTokenizer, WordPieceTokenizer, _bert_lower

VOCAB_TYPES = ("wordpiece", "sentencepiece")


def _sentences(files: Sequence[str], errors: str) -> Iterator[str]:
    for path in files:
        for line in iter_lines(path, errors):
            if line.strip():
                yield line


def _count_sentences(files: Sequence[str], errors: str) -> int:
    count = sum(1 for _ in _sentences(files, errors))
    if count == 0:
        raise DataPrepError(f"no text to train a vocabulary on in {', '.join(files)}")
    return count


def _continuation_alphabet(char_counts: Counter, normalizer, pre_tokenizer, limit: int) -> list[str]:
    """Characters that can continue a word ("##c"), after normalization, most frequent ``limit``, sorted."""
    counts: Counter = Counter()
    for char, n in char_counts.items():
        for normalized in normalizer.normalize_str(char):
            counts[normalized] += n
    inside_word = [c for c in counts
                   if not c.isspace() and len(pre_tokenizer.pre_tokenize_str(normalizer.normalize_str("a" + c))) == 1]
    inside_word.sort(key=lambda c: (-counts[c], c))
    return sorted(inside_word[:limit])


def train_wordpiece(inputs, output_dir: str, vocab_size: int = 30522, lower_case: bool = True,
                    min_frequency: int = 2, limit_alphabet: int = 1000, errors: str = "strict") -> str:
    """Train a WordPiece vocabulary; writes ``output_dir/vocab.txt`` (+ ``tokenizer_config.json``) and returns
    the vocab path. The result can be smaller than ``vocab_size`` on a small corpus.

    Deterministic: the trainer numbers continuation pieces ("##e") in hash-map order, and its merges break
    frequency ties by those numbers, so two runs on the same text could differ. Registering the sorted
    continuation alphabet up front (right after the special tokens) fixes the numbering, hence the vocabulary.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    files = expand_inputs(inputs, "vocabulary training input")
    if vocab_size <= len(SPECIAL_TOKENS):
        raise DataPrepError(f"vocab_size must exceed the {len(SPECIAL_TOKENS)} special tokens, got {vocab_size}")

    def prepared() -> Iterator[str]:
        for sentence in _sentences(files, errors):
            yield _bert_lower(sentence) if lower_case else sentence

    total, chars = 0, Counter()
    for sentence in prepared():
        total += 1
        chars.update(sentence)
    if total == 0:
        raise DataPrepError(f"no text to train a vocabulary on in {', '.join(files)}")
    normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=lower_case,
                                            lowercase=False)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    continuation = ["##" + c for c in _continuation_alphabet(chars, normalizer, pre_tokenizer, limit_alphabet)]
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]", continuing_subword_prefix="##"))
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                        special_tokens=[*SPECIAL_TOKENS, *continuation],
                                        limit_alphabet=limit_alphabet, continuing_subword_prefix="##",
                                        show_progress=False)

    def batches() -> Iterator[list[str]]:
        batch = []
        for sentence in prepared():
            batch.append(sentence)
            if len(batch) == 10000:
                yield batch
                batch = []
        if batch:
            yield batch

    tokenizer.train_from_iterator(batches(), trainer=trainer, length=total)
    vocab = tokenizer.get_vocab()
    tokens = [token for token, _ in sorted(vocab.items(), key=lambda item: item[1])]
    if tokens[:len(SPECIAL_TOKENS)] != list(SPECIAL_TOKENS):
        raise DataPrepError(f"unexpected special-token order from the trainer: {tokens[:len(SPECIAL_TOKENS)]}")
    with storing(output_dir):
        os.makedirs(output_dir, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=output_dir, prefix=".vocab-") as tmp:
            raw = os.path.join(tmp, "vocab.txt")
            with open(raw, "w", encoding="utf-8") as f:
                f.writelines(t + "\n" for t in tokens)
            path = WordPieceTokenizer(raw, lower_case=lower_case).save(output_dir)
    log.info("WordPiece vocabulary: %d tokens from %d sentences → %s", len(tokens), total, path)
    return path


def train_sentencepiece(inputs, output_dir: str, vocab_size: int = 30522, lower_case: bool = True,
                        model_type: str = "unigram", character_coverage: float = 0.9995,
                        errors: str = "strict", num_threads: int | None = None) -> str:
    """Train a SentencePiece model; writes ``output_dir/spm.model`` (+ ``spm.vocab``, ``tokenizer_config.json``)
    and returns the model path."""
    import sentencepiece as spm

    files = expand_inputs(inputs, "vocabulary training input")
    total = _count_sentences(files, errors)
    with storing(output_dir):
        os.makedirs(output_dir, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=output_dir, prefix=".spm-") as tmp:
            text = os.path.join(tmp, "input.txt")   # checked, decoded, blank lines dropped
            with open(text, "w", encoding="utf-8") as f:
                f.writelines(s + "\n" for s in _sentences(files, errors))
            prefix = os.path.join(tmp, "spm")
            try:
                spm.SentencePieceTrainer.train(
                    input=text, model_prefix=prefix, vocab_size=vocab_size, model_type=model_type,
                    character_coverage=character_coverage, pad_id=0, unk_id=1, bos_id=-1, eos_id=-1,
                    pad_piece="[PAD]", unk_piece="[UNK]", control_symbols=["[CLS]", "[SEP]", "[MASK]"],
                    normalization_rule_name="nmt_nfkc_cf" if lower_case else "nmt_nfkc",
                    num_threads=num_threads or os.cpu_count() or 1, minloglevel=2,
                    hard_vocab_limit=True, input_sentence_size=0, shuffle_input_sentence=False)
            except RuntimeError as e:
                raise DataPrepError(f"SentencePiece training failed: {e}") from e
            model = SentencePieceTokenizer(prefix + ".model", lower_case=False)
            path = model.save(output_dir)
            shutil.copyfile(prefix + ".vocab", os.path.join(output_dir, "spm.vocab"))
    log.info("SentencePiece model: %d pieces from %d sentences → %s", vocab_size, total, path)
    return path


@dataclasses.dataclass(frozen=True)
class BuildVocabConfig:
    input: tuple[str, ...] = knob((), "Sentence shards: files, folders or globs.", required=True)
    output_dir: str = knob("", "Where the vocabulary is written.", required=True)
    type: str = knob("wordpiece", "Vocabulary kind.", choices=VOCAB_TYPES)
    vocab_size: int = knob(30522, "Tokens in the vocabulary, the special tokens included.",
                           valid=f"> {len(SPECIAL_TOKENS)}")
    lower_case: bool = knob(True, "Uncased vocabulary; --nolower_case for cased.")
    min_frequency: int = knob(2, "WordPiece: minimum pair frequency.", valid=">= 0")
    errors: str = knob("strict", "Invalid UTF-8: 'strict' stops with the file and byte offset, 'replace' uses "
                                 "U+FFFD.", choices=ERRORS_CHOICES)


def _run(c: BuildVocabConfig) -> None:
    if c.type == "wordpiece":
        print(train_wordpiece(list(c.input), c.output_dir, c.vocab_size, c.lower_case, c.min_frequency,
                              errors=c.errors))
    else:
        print(train_sentencepiece(list(c.input), c.output_dir, c.vocab_size, c.lower_case, errors=c.errors))


COMMAND = Command("python -m data_prep.build_vocab", BuildVocabConfig, _run, __doc__, tensorflow=False)
main = COMMAND.main

if __name__ == "__main__":
    sys.exit(main())
