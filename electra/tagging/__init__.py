"""Token tagging (NER with BIO/IOB2/BIOES tags, POS tagging): column-file readers, windows of sub-tokens with the
tag on each word's first sub-token, and the merge of window predictions back to one tag per word.

Quick use::

    from electra.tagging import LabelSet, encode, merge, read_tagged, tag_scheme
    train = read_tagged("train.conll")                    # or a .conllu file (UPOS)
    labels = LabelSet.from_examples(train, "train.conll")
    features = encode(train, tokenizer, max_seq_length=128, labels=labels, stride=64)
    tags = merge(features, logits, len(train))            # logits [W, L, len(labels.names)] → [num_words] each
"""
from electra.tagging.data import (DataError, LabelSet, Sentence, encode, merge, merge_logits, read_conll, read_conllu,
                                  read_tagged, tag_scheme)

__all__ = ["DataError", "LabelSet", "Sentence", "encode", "merge", "merge_logits", "read_conll", "read_conllu",
           "read_tagged", "tag_scheme"]
