"""Token tagging (NER with BIO/IOB2/BIOES tags, POS tagging): column-file readers, windows of sub-tokens with the
tag on each word's first sub-token and the merge of window predictions back to one tag per word (``data``), and
entity-level and token scores (``metrics``).

Quick use::

    from electra.tagging.data import encode, merge, read_tagged, tag_label_set
    train = read_tagged("train.conll")                    # or a .conllu file (UPOS)
    labels = tag_label_set(train)
    features = encode(train, tokenizer, max_seq_length=128, labels=labels, stride=64)
    tags = merge(features, logits, len(train))            # logits [W, L, len(labels.names)] → [num_words] each
"""
