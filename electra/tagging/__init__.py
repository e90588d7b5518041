"""Token tagging: NER and POS."""
