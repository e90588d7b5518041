from data_prep.text import clean_text, paragraph_to_sentences, split_sentences


def test_sentence_splitter_rules():
    text = ("Dr. Smith went to Washington on Monday. He met J. R. R. Tolkien there! Was it 3.5 p.m.? Yes. "
            "\"Quoted.\" Then (see Fig. 3) more, e.g. this. The U.S. Army is large. lower case stays. 42 starts.")
    assert split_sentences(text) == [
        "Dr. Smith went to Washington on Monday.", "He met J. R. R. Tolkien there!", "Was it 3.5 p.m.?", "Yes.",
        "\"Quoted.\"", "Then (see Fig. 3) more, e.g. this.", "The U.S. Army is large. lower case stays.",
        "42 starts."]
    assert split_sentences("中国人。日本人！ok") == ["中国人。", "日本人！", "ok"]
    assert split_sentences("Wait… What? “Yes,” she said. ¿Qué? Fine.") == [
        "Wait…", "What?", "“Yes,” she said.", "¿Qué?", "Fine."]
    assert split_sentences("") == []


def test_cleaning():
    assert clean_text("  a\u00a0b\tc\u200b d\x00e\ufeff \n f ") == "a b c de f"
    assert clean_text("cafe\u0301") == "caf\u00e9"                 # NFC
    assert paragraph_to_sentences("* * *") == [] and paragraph_to_sentences(" ---- ") == []
    assert paragraph_to_sentences("Real  words\there. Next one.") == ["Real words here.", "Next one."]
