"""Sentence classification and regression: GLUE's files and the user's CSV / TSV / JSON Lines (``data``), the
scores (``metrics``) and GLUE test-set submission files (``submission``).

Quick use::

    from electra.classification.data import LabelSet, encode, read_glue, read_table
    train = read_table("train.csv", "text", label_column="label")
    labels = LabelSet.from_examples(train, "train.csv")
    features = encode(train, tokenizer, 128, labels)     # input_ids / input_mask / segment_ids [N, 128], labels [N]
"""
