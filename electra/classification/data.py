"""Sentence classification / regression data: GLUE's own files and the user's CSV / TSV / JSON Lines → examples →
fixed-length features.

Every reader reads and checks the whole file before returning, so bad input stops a run before its first step with
a ``DataError`` whose message is ``<file>:<line>: <column> <what is wrong>`` (lines 1-based, as in an editor): a
missing column (naming the columns the file has), an empty text, a label outside the label set, a regression target
that is not a finite number, a line with the wrong number of fields, a JSON Lines record that is not an object,
bytes that are not UTF-8, a GLUE header that is not the task's layout, a file without examples.

GLUE TSVs are read with quoting off (several hold ``"`` characters that are text, not quotes), one record a line;
the user's CSV is read with CSV quoting (a quoted field may span lines; its example's line is the record's first).
Features are ``[CLS] a [SEP]`` or ``[CLS] a [SEP] b [SEP]`` with segment ids 0 / 1, the pair truncated longest
first as BERT and google-research/electra do.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from electra.io import write_json

LABELS_FILE = "labels.json"
FORMATS = ("csv", "tsv", "jsonl")
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


class DataError(ValueError):
    """Input data that cannot be used; the message names the file, the line and the column."""


@dataclasses.dataclass(frozen=True, slots=True)
class Example:
    guid: str                       # the file's id/index column when it has one, else "<basename>:<line>"
    text_a: str
    text_b: str | None
    label: str | float | None       # class name, regression target, or None (unlabeled)
    line: int                       # 1-based line of the record in its file


@dataclasses.dataclass(frozen=True)
class GlueLayout:
    """One GLUE file layout: its columns in order, whether the file starts with them as a header row, and which
    columns hold the texts, the label and the id."""
    split: str                      # "train", "dev", "train/dev" or "test"
    columns: tuple[str, ...]
    header: bool
    text_a: str
    text_b: str | None
    label: str | None               # None: test layout (unlabeled)
    guid: str | None                # None: the file has no id column

    def describe(self) -> str:
        names = "\\t".join(self.columns)
        if self.header:
            return f"{self.split}: header '{names}'"
        return f"{self.split}: no header, {len(self.columns)} columns '{names}'"


@dataclasses.dataclass(frozen=True)
class GlueTask:
    """One GLUE task: its label set in GLUE's order (the class index order of models and submissions), its
    metrics, its file layouts and where GLUE's download puts its files. MNLI is two tasks, "mnli" (matched dev /
    test, submitted as ``MNLI-m.tsv``) and "mnli-mm" (mismatched), trained on the same file; "ax" is GLUE's
    diagnostic test set, predicted by an MNLI model."""
    name: str                       # lower-case key, e.g. "sts-b"
    title: str                      # GLUE's spelling, used for submission file names, e.g. "STS-B", "MNLI-mm"
    labels: tuple[str, ...] | None  # None: regression
    metrics: tuple[str, ...]        # names in electra.classification.metrics.METRICS
    layouts: tuple[GlueLayout, ...]
    directory: str                  # the task's folder in GLUE's glue_data
    files: tuple[tuple[str, str], ...]   # (split, file name) in that folder
    score_range: tuple[float, float] | None = None   # regression targets' valid range

    @property
    def regression(self) -> bool:
        return self.labels is None

    def label_set(self) -> "LabelSet | None":
        """The task's fixed label set (None for regression): use it rather than the labels a subset happens to
        hold, so class indices match GLUE's order and the submission writer."""
        return None if self.labels is None else LabelSet(self.labels)

    def file(self, split: str) -> str:
        """The file name of ``split`` ("train", "dev", "test") in the task's GLUE folder."""
        for name, filename in self.files:
            if name == split:
                return filename
        raise ValueError(f"GLUE {self.title} has no {split} file (it has {', '.join(n for n, _ in self.files)})")

    def path(self, glue_dir: str, split: str) -> str:
        return os.path.join(glue_dir, self.directory, self.file(split))


def _layouts(train: Sequence[str], test: Sequence[str], text_a: str, text_b: str | None, label: str,
             guid: str | None, header: bool = True, test_guid: str = "index") -> tuple[GlueLayout, ...]:
    return (GlueLayout("train/dev", tuple(train), header, text_a, text_b, label, guid),
            GlueLayout("test", tuple(test), True, text_a, text_b, None, test_guid))


def _task(name, title, labels, metrics, layouts, directory, files=("train.tsv", "dev.tsv", "test.tsv"),
          splits=("train", "dev", "test"), score_range=None) -> GlueTask:
    return GlueTask(name, title, labels, metrics, layouts, directory, tuple(zip(splits, files)), score_range)


_BINARY = ("0", "1")
_NLI = ("contradiction", "entailment", "neutral")
_ENTAIL = ("entailment", "not_entailment")
_PAIR = ("index", "sentence1", "sentence2")
_STS = ("index", "genre", "filename", "year", "old_index", "source1", "source2", "sentence1", "sentence2")
_MNLI = ("index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
         "sentence1_parse", "sentence2_parse", "sentence1", "sentence2")
_MNLI_LAYOUTS = (
    GlueLayout("train", _MNLI + ("label1", "gold_label"), True, "sentence1", "sentence2", "gold_label", "index"),
    GlueLayout("dev", _MNLI + ("label1", "label2", "label3", "label4", "label5", "gold_label"), True, "sentence1",
               "sentence2", "gold_label", "index"),
    GlueLayout("test", _MNLI, True, "sentence1", "sentence2", None, "index"))
_MRPC = ("#1 ID", "#2 ID", "#1 String", "#2 String")

GLUE_TASKS: dict[str, GlueTask] = {t.name: t for t in (
    _task("cola", "CoLA", _BINARY, ("mcc",),
          _layouts(("source", "label", "mark", "sentence"), ("index", "sentence"), "sentence", None, "label", None,
                   header=False), "CoLA"),
    _task("sst-2", "SST-2", _BINARY, ("accuracy",),
          _layouts(("sentence", "label"), ("index", "sentence"), "sentence", None, "label", None), "SST-2"),
    _task("mrpc", "MRPC", _BINARY, ("accuracy", "f1"),
          _layouts(("Quality",) + _MRPC, ("index",) + _MRPC, "#1 String", "#2 String", "Quality", None), "MRPC"),
    _task("sts-b", "STS-B", None, ("pearson", "spearman"),
          _layouts(_STS + ("score",), _STS, "sentence1", "sentence2", "score", "index"), "STS-B",
          score_range=(0.0, 5.0)),
    _task("qqp", "QQP", _BINARY, ("accuracy", "f1"),
          _layouts(("id", "qid1", "qid2", "question1", "question2", "is_duplicate"), ("id", "question1", "question2"),
                   "question1", "question2", "is_duplicate", "id", test_guid="id"), "QQP"),
    _task("mnli", "MNLI-m", _NLI, ("accuracy",), _MNLI_LAYOUTS, "MNLI",
          ("train.tsv", "dev_matched.tsv", "test_matched.tsv")),
    _task("mnli-mm", "MNLI-mm", _NLI, ("accuracy",), _MNLI_LAYOUTS, "MNLI",
          ("train.tsv", "dev_mismatched.tsv", "test_mismatched.tsv")),
    _task("qnli", "QNLI", _ENTAIL, ("accuracy",),
          _layouts(("index", "question", "sentence", "label"), ("index", "question", "sentence"), "question",
                   "sentence", "label", "index"), "QNLI"),
    _task("rte", "RTE", _ENTAIL, ("accuracy",),
          _layouts(_PAIR + ("label",), _PAIR, "sentence1", "sentence2", "label", "index"), "RTE"),
    _task("wnli", "WNLI", _BINARY, ("accuracy",),
          _layouts(_PAIR + ("label",), _PAIR, "sentence1", "sentence2", "label", "index"), "WNLI"),
    # The diagnostic set: test only, scored by GLUE with MNLI's labels (a model trained on MNLI predicts it).
    _task("ax", "AX", _NLI, ("mcc",), (GlueLayout("test", _PAIR, True, "sentence1", "sentence2", None, "index"),),
          "diagnostic", ("diagnostic.tsv",), ("test",)),
)}


def glue_task(name: str) -> GlueTask:
    key = name.lower()
    if key not in GLUE_TASKS:
        raise ValueError(f"unknown GLUE task {name!r}; the tasks are {', '.join(GLUE_TASKS)}")
    return GLUE_TASKS[key]


# --- reading ---------------------------------------------------------------------------------------------------
def _read_text(path: str) -> str:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from e
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line, line_start = raw.count(b"\n", 0, e.start) + 1, raw.rfind(b"\n", 0, e.start) + 1
        raise DataError(f"{path}:{line}: not UTF-8 text (byte 0x{raw[e.start]:02x} at byte {e.start - line_start + 1} "
                        f"of the line)") from e
    return text[1:] if text.startswith("\ufeff") else text


def _rows(path: str, text: str, fmt: str) -> Iterator[tuple[int, list[str]]]:
    """``(line, fields)`` per record; blank lines skipped. TSV: quoting off; CSV: standard quoting, strictly (a stray
    character after a closing quote or a quote left open at the end is an error, not a silently merged field)."""
    if fmt == "tsv":
        reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    try:
        for row in reader:
            line, start = start, reader.line_num + 1
            if row:
                yield line, row
    except csv.Error as e:
        raise DataError(f"{path}:{start}: malformed {fmt.upper()} record ({e})") from e


def _check_text(path: str, line: int, column: str, value) -> str:
    if not isinstance(value, str):
        raise DataError(f"{path}:{line}: column {column!r}: expected a string, got {_json_type(value)} {value!r}")
    if not value.strip():
        raise DataError(f"{path}:{line}: column {column!r}: empty text")
    return value


def _check_class(path: str, line: int, column: str, value, labels: Sequence[str] | None = None) -> str:
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, int):
        value = str(value)
    elif not isinstance(value, str):
        raise DataError(f"{path}:{line}: column {column!r}: a class label is a string, integer or boolean, got "
                        f"{_json_type(value)} {value!r}")
    value = value.strip()
    if not value:
        raise DataError(f"{path}:{line}: column {column!r}: empty label")
    if labels is not None and value not in labels:
        raise DataError(f"{path}:{line}: column {column!r}: {value!r} is not one of the labels {list(labels)}")
    return value


def _check_number(path: str, line: int, column: str, value, score_range=None) -> float:
    number = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            pass
    if number is None:
        raise DataError(f"{path}:{line}: column {column!r}: {value!r} is not a number (a regression target)")
    if not math.isfinite(number):
        raise DataError(f"{path}:{line}: column {column!r}: {value!r} is not a finite number")
    if score_range is not None and not score_range[0] <= number <= score_range[1]:
        raise DataError(f"{path}:{line}: column {column!r}: {value!r} is outside the range "
                        f"[{score_range[0]:g}, {score_range[1]:g}]")
    return number


def _json_type(value) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _field_count_error(path: str, line: int, found: int, columns: Sequence[str], what: str) -> DataError:
    return DataError(f"{path}:{line}: {found} field(s) where {what} has {len(columns)} ({', '.join(columns)})")


def read_glue(task: str, path: str, *, require_labels: bool = False) -> list[Example]:
    """The examples of a GLUE train, dev or test file of ``task`` (a key of ``GLUE_TASKS``); the split is told by
    the header (CoLA's train/dev files have none). Test files give ``label=None``; ``require_labels`` refuses them
    (training and evaluation need labels). Labels are checked against the task's label set, STS-B scores against
    [0, 5]."""
    spec = glue_task(task)
    path = os.fspath(path)
    rows = _rows(path, _read_text(path), "tsv")
    first = next(rows, None)
    if first is None:
        raise DataError(f"{path}: empty file; expected a GLUE {spec.title} file "
                        f"({'; '.join(layout.describe() for layout in spec.layouts)})")
    layout = _match_layout(spec, path, *first)
    if require_labels and layout.label is None:
        raise DataError(f"{path}:1: header: this is the GLUE {spec.title} test layout, which has no labels; a train "
                        f"or dev file is needed here")
    records = rows if layout.header else _chain_first(first, rows)
    index = {name: i for i, name in enumerate(layout.columns)}
    a, b = index[layout.text_a], index[layout.text_b] if layout.text_b else None
    label = index[layout.label] if layout.label else None
    guid = index[layout.guid] if layout.guid else None
    base = os.path.basename(path)
    what = f"the GLUE {spec.title} {layout.split} layout"
    examples = []
    for line, row in records:
        if len(row) != len(layout.columns):
            raise _field_count_error(path, line, len(row), layout.columns, what)
        value = None
        if label is not None:
            if spec.regression:
                value = _check_number(path, line, layout.label, row[label], spec.score_range)
            else:
                value = _check_class(path, line, layout.label, row[label], spec.labels)
        examples.append(Example(
            guid=row[guid] if guid is not None else f"{base}:{line}",
            text_a=_check_text(path, line, layout.text_a, row[a]),
            text_b=_check_text(path, line, layout.text_b, row[b]) if b is not None else None,
            label=value, line=line))
    if not examples:
        raise DataError(f"{path}: no examples after the header on line 1")
    return examples


def _chain_first(first, rows):
    yield first
    yield from rows


def _match_layout(spec: GlueTask, path: str, line: int, first: list[str]) -> GlueLayout:
    for layout in spec.layouts:
        if layout.header and tuple(first) == layout.columns:
            return layout
    for layout in spec.layouts:
        if not layout.header and len(first) == len(layout.columns):
            return layout
    expected = "; ".join(layout.describe() for layout in spec.layouts)
    what = "header" if all(layout.header for layout in spec.layouts) else "first line"
    message = f"{path}:{line}: {what} {first!r} does not match the GLUE {spec.title} layout ({expected})"
    others = sorted({f"{other.title} {layout.split}" for other in GLUE_TASKS.values() if other.name != spec.name
                     for layout in other.layouts if layout.header and tuple(first) == layout.columns})
    if others:
        message += f"; it is the header of GLUE {' / '.join(others)}"
    raise DataError(message)


def table_format(path: str, format: str | None = None) -> str:
    """"csv", "tsv" or "jsonl": ``format`` when given, else told by the file's extension."""
    if format is not None:
        if format not in FORMATS:
            raise ValueError(f"unknown data format {format!r}; use one of {', '.join(FORMATS)}")
        return format
    extension = os.path.splitext(os.fspath(path))[1].lower()
    if extension not in _EXTENSIONS:
        raise DataError(f"{path}: cannot tell the format from the extension {extension or '(none)'!r}; name the "
                        f"file .csv, .tsv or .jsonl, or give the format ({', '.join(FORMATS)})")
    return _EXTENSIONS[extension]


def read_table(path, text_column: str, text_pair_column: str | None = None, label_column: str | None = None, *,
               regression: bool = False, format: str | None = None) -> list[Example]:
    """The examples of the user's own file: CSV (header row, CSV quoting), TSV (header row, quoting off) or JSON
    Lines (one object a line, blank lines skipped), with the named columns. ``label_column=None`` reads unlabeled
    examples (``label=None``). Class labels become strings (JSON integers as ``"3"``, booleans as ``"true"`` /
    ``"false"``); regression targets (``regression=True``) must be finite numbers. The label set is not checked
    here: build it with ``LabelSet.from_examples`` from the training file and check other files with
    ``LabelSet.index``."""
    path = os.fspath(path)
    fmt = table_format(path, format)
    text = _read_text(path)
    columns = [(text_column, "text"), (text_pair_column, "text"), (label_column, "label")]
    columns = [(name, kind) for name, kind in columns if name is not None]
    records = _json_records(path, text) if fmt == "jsonl" else _table_records(path, text, fmt, columns)
    base = os.path.basename(path)
    examples = []
    for line, record in records:
        values = {}
        for name, kind in columns:
            if name not in record:
                raise DataError(f"{path}:{line}: column {name!r} is missing; the record has the keys "
                                f"{sorted(record)}")
            value = record[name]
            if kind == "text":
                values[name] = _check_text(path, line, name, value)
            elif regression:
                values[name] = _check_number(path, line, name, value)
            else:
                values[name] = _check_class(path, line, name, value)
        examples.append(Example(guid=f"{base}:{line}", text_a=values[text_column],
                                text_b=values[text_pair_column] if text_pair_column is not None else None,
                                label=values[label_column] if label_column is not None else None, line=line))
    if not examples:
        raise DataError(f"{path}: no examples" + (" (the file is empty)" if not text.strip() else ""))
    return examples


def _table_records(path: str, text: str, fmt: str, columns) -> Iterator[tuple[int, dict]]:
    rows = _rows(path, text, fmt)
    first = next(rows, None)
    if first is None:
        return
    line, header = first
    for name, _ in columns:
        if header.count(name) != 1:
            problem = "is missing" if name not in header else "appears more than once"
            raise DataError(f"{path}:{line}: column {name!r} {problem} in the header; the header has the columns "
                            f"{header}")
    for line, row in rows:
        if len(row) != len(header):
            raise _field_count_error(path, line, len(row), header, "the header")
        yield line, dict(zip(header, row))


def _json_records(path: str, text: str) -> Iterator[tuple[int, dict]]:
    for line, content in enumerate(text.split("\n"), 1):
        if not content.strip():
            continue
        try:
            record = json.loads(content)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{line}: malformed JSON at column {e.colno} ({e.msg})") from e
        if not isinstance(record, dict):
            raise DataError(f"{path}:{line}: a JSON Lines record must be an object with the columns as keys, got "
                            f"{_json_type(record)}")
        yield line, record


# --- labels ----------------------------------------------------------------------------------------------------
def _label_order(name: str):
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)


@dataclasses.dataclass(frozen=True)
class LabelSet:
    """The class names in index order (index = the model's output unit). Saved as ``labels.json`` (a JSON list)
    beside a fine-tuned model and in its export, so predictions map back to names."""
    names: tuple[str, ...]
    _index: dict = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self):
        names = tuple(self.names)
        if not names or not all(isinstance(n, str) and n for n in names):
            raise ValueError(f"a label set needs one or more non-empty string names, got {list(names)}")
        if len(set(names)) != len(names):
            raise ValueError(f"label names must be distinct, got {list(names)}")
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "_index", {n: i for i, n in enumerate(names)})

    def __len__(self) -> int:
        return len(self.names)

    @classmethod
    def from_names(cls, names: Iterable[str]) -> "LabelSet":
        """Sorted unique names; names that are all numbers sort numerically ("2" before "10")."""
        unique = set(names)
        numeric = all(_label_order(n)[0] == 0 for n in unique)
        return cls(tuple(sorted(unique, key=_label_order if numeric else None)))

    @classmethod
    def from_examples(cls, examples: Iterable[Example], path: str) -> "LabelSet":
        """The labels a training file uses; at least two (one class leaves nothing to learn)."""
        names = set()
        for example in examples:
            if example.label is None:
                continue
            if not isinstance(example.label, str):
                raise DataError(f"{path}:{example.line}: label {example.label!r} is a number; a label set holds "
                                f"class names (regression data has no label set)")
            names.add(example.label)
        if len(names) < 2:
            found = f"only the label {next(iter(names))!r}" if names else "no labels"
            raise DataError(f"{path}: {found}; classification needs at least two classes in the training file")
        return cls.from_names(names)

    def index(self, example: Example, path: str, column: str = "label") -> int:
        """The class index of ``example``'s label; a label outside the set (or none) names the file and line."""
        index = self._index.get(example.label) if isinstance(example.label, str) else None
        if index is None:
            what = (f"no label (the labels are {list(self.names)})" if example.label is None else
                    f"{example.label!r} is not one of the labels {list(self.names)}")
            raise DataError(f"{path}:{example.line}: column {column!r}: {what}")
        return index

    def to_json(self) -> list[str]:
        return list(self.names)

    def save(self, path: str) -> str:
        """Write ``labels.json`` (``path`` a directory) or ``path`` itself; returns the file written."""
        path = os.fspath(path)
        if os.path.isdir(path):
            path = os.path.join(path, LABELS_FILE)
        return write_json(path, self.to_json())

    @classmethod
    def from_file(cls, path: str) -> "LabelSet":
        """Read ``labels.json`` (``path`` a directory holding it, or the file)."""
        path = os.fspath(path)
        if os.path.isdir(path):
            path = os.path.join(path, LABELS_FILE)
        try:
            with open(path, encoding="utf-8") as f:
                names = json.load(f)
        except OSError as e:
            raise DataError(f"{path}: cannot read the label set ({e.strerror or e})") from e
        except ValueError as e:
            raise DataError(f"{path}: the label set is not JSON ({e})") from e
        if not isinstance(names, list):
            raise DataError(f"{path}: a label set is a JSON list of names, got {_json_type(names)}")
        try:
            return cls(tuple(names))
        except ValueError as e:
            raise DataError(f"{path}: {e}") from e


# --- features --------------------------------------------------------------------------------------------------
def truncated_lengths(len_a: int, len_b: int, max_tokens: int) -> tuple[int, int]:
    """Lengths after BERT's longest-first pair truncation (drop the last token of the longer text, of the second
    on ties, until ``len_a + len_b <= max_tokens``): when the shorter fits in half, the longer takes the rest;
    otherwise the halves, the odd token to the first text."""
    if len_a + len_b <= max_tokens:
        return len_a, len_b
    short = min(len_a, len_b)
    if 2 * short <= max_tokens:
        return (max_tokens - short, short) if len_a > len_b else (short, max_tokens - short)
    return (max_tokens + 1) // 2, max_tokens // 2


def encode(examples: Sequence[Example], tokenizer, max_seq_length: int, labels: LabelSet | None, *,
           path: str | None = None) -> dict[str, np.ndarray]:
    """Features of ``examples`` in order: ``input_ids``, ``input_mask``, ``segment_ids`` int32 ``[N,
    max_seq_length]`` (``[CLS] a [SEP] (b [SEP])``, padded with the tokenizer's pad id, 0 for BERT vocabularies)
    and ``labels``: int32 ``[N]`` class indices with ``labels`` given (-1 for an unlabeled example), else float32
    ``[N]`` regression targets (NaN when unlabeled). ``path`` names the file in label errors."""
    examples = list(examples)
    pairs = [i for i, example in enumerate(examples) if example.text_b is not None]
    if max_seq_length < (3 if pairs else 2):
        raise ValueError(f"max_seq_length={max_seq_length} leaves no room for text after [CLS] and [SEP]")
    where = path if path is not None else "(examples)"
    if labels is not None:
        label_values = np.array([-1 if e.label is None else labels.index(e, where) for e in examples], np.int32)
    else:
        named = next((e for e in examples if isinstance(e.label, str)), None)
        if named is not None:
            raise ValueError(f"{where}:{named.line}: label {named.label!r} is a class name; encode classification "
                             f"examples with their LabelSet")
        label_values = np.array([np.nan if e.label is None else e.label for e in examples], np.float32)

    ids_a = tokenizer.encode_batch([e.text_a for e in examples])
    ids_b: list[list[int] | None] = [None] * len(examples)
    for i, ids in zip(pairs, tokenizer.encode_batch([examples[i].text_b for i in pairs])):
        ids_b[i] = ids
    n = len(examples)
    input_ids = np.full((n, max_seq_length), tokenizer.pad_id, np.int32)
    input_mask = np.zeros((n, max_seq_length), np.int32)
    segment_ids = np.zeros((n, max_seq_length), np.int32)
    cls, sep = tokenizer.cls_id, tokenizer.sep_id
    for i, (a, b) in enumerate(zip(ids_a, ids_b)):
        if b is None:
            row = [cls, *a[:max_seq_length - 2], sep]
            first = len(row)
        else:
            keep_a, keep_b = truncated_lengths(len(a), len(b), max_seq_length - 3)
            row = [cls, *a[:keep_a], sep, *b[:keep_b], sep]
            first = keep_a + 2
        input_ids[i, :len(row)] = row
        input_mask[i, :len(row)] = 1
        segment_ids[i, first:len(row)] = 1
    return {"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids, "labels": label_values}
