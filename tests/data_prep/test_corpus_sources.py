"""Corpus sources: the embedded default, text files (bad encodings, empty files), a Wikipedia dump."""
import bz2
import json

import pytest

from data_prep.common import DataPrepError
from data_prep.corpus import CorpusStats, default_corpus_documents, text_file_documents, wikipedia_documents


def test_default_corpus_is_real_prose_from_the_standard_library():
    from pydoc_data.topics import topics
    stats = CorpusStats()
    documents = list(default_corpus_documents(stats=stats))
    assert len(documents) >= 50 and stats["documents"] == len(documents)
    sentences = [s for d in documents for s in d]
    assert sum(len(s) for s in sentences) > 200_000
    corpus = "\n".join(topics.values())
    # every sentence is text from the module (whitespace re-flowed), not something written here
    for sentence in sentences[::97]:
        first_words = " ".join(sentence.split()[:4])
        assert first_words in " ".join(corpus.split()), sentence
    assert not any(s.lstrip().startswith(">>>") for s in sentences)
    assert list(default_corpus_documents(max_documents=3)) == documents[:3]


def test_text_files_documents_and_empty_files(tmp_path):
    (tmp_path / "a.txt").write_text("First doc. Second sentence!\nAnother line\n\n\nSecond doc here.\n",
                                    encoding="utf-8")
    (tmp_path / "b.txt").write_bytes(b"")
    (tmp_path / "c.txt").write_text("\n  \n", encoding="utf-8")
    (tmp_path / "d.txt").write_bytes("\ufeffLast doc.\r\nWith CRLF.".encode())
    stats = CorpusStats()
    documents = list(text_file_documents(str(tmp_path), stats=stats))
    assert documents == [["First doc.", "Second sentence!", "Another line"], ["Second doc here."],
                         ["Last doc.", "With CRLF."]]
    assert stats["files"] == 4 and stats["empty_files"] == 2 and stats["documents"] == 3


def test_non_utf8_text_error_and_replace(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("Good line.\nCaf".encode() + b"\xe9 au lait.\n")
    with pytest.raises(DataPrepError, match=r"latin1\.txt: invalid UTF-8 at byte offset 14 \(bytes e9 20"):
        list(text_file_documents([path]))
    assert list(text_file_documents([path], errors="replace")) == [["Good line.", "Caf\ufffd au lait."]]


def test_missing_input(tmp_path):
    with pytest.raises(DataPrepError, match="not found"):
        list(text_file_documents([tmp_path / "nothing-*.txt"]))


def _page(title, page_id, text):
    # one tag a line, as in real dumps (wikiextractor reads them line by line)
    return (f"  <page>\n    <title>{title}</title>\n    <ns>0</ns>\n    <id>{page_id}</id>\n    <revision>\n"
            f"      <id>{page_id + 100}</id>\n      <text xml:space=\"preserve\">{text}</text>\n    </revision>\n"
            f"  </page>\n")


ALPHA = ("'''Alpha''' is the first letter of the [[Greek alphabet]]. It has the value one.\n\n== History ==\n"
         "The letter was derived from the [[Phoenicia|Phoenician]] letter aleph.&lt;ref&gt;A source.&lt;/ref&gt; "
         "It is used widely.\n")
DUMP = ("<mediawiki xmlns=\"http://www.mediawiki.org/xml/export-0.10/\" version=\"0.10\" xml:lang=\"en\">\n"
        "  <siteinfo>\n    <sitename>Wikipedia</sitename>\n    <dbname>enwiki</dbname>\n"
        "    <base>https://en.wikipedia.org/wiki/Main_Page</base>\n    <generator>MediaWiki 1.41</generator>\n"
        "    <case>first-letter</case>\n    <namespaces>\n      <namespace key=\"0\" case=\"first-letter\" />\n"
        "      <namespace key=\"10\" case=\"first-letter\">Template</namespace>\n    </namespaces>\n  </siteinfo>\n"
        + _page("Alpha", 1, ALPHA)
        + _page("Beta", 2, "#REDIRECT [[Alpha]]")
        + _page("Gamma", 3, "'''Gamma''' is the third letter. It follows beta in the alphabet.\n")
        + "</mediawiki>\n")


def test_wikipedia_dump_through_wikiextractor(tmp_path):
    dump = tmp_path / "tiny-pages-articles.xml.bz2"
    dump.write_bytes(bz2.compress(DUMP.encode()))
    stats = CorpusStats()
    documents = list(wikipedia_documents(str(dump), stats=stats))
    assert documents == [
        ["Alpha is the first letter of the Greek alphabet.", "It has the value one.",
         "The letter was derived from the Phoenician letter aleph.", "It is used widely."],
        ["Gamma is the third letter.", "It follows beta in the alphabet."]]
    assert stats["documents"] == 2


def test_corrupt_wikipedia_dump(tmp_path):
    data = bz2.compress(DUMP.encode())
    dump = tmp_path / "broken.xml.bz2"
    dump.write_bytes(data[:len(data) // 2])
    with pytest.raises(DataPrepError, match="wikiextractor failed on .*broken.xml.bz2"):
        list(wikipedia_documents(str(dump)))
    with pytest.raises(DataPrepError, match="not found"):
        list(wikipedia_documents(str(tmp_path / "missing.xml.bz2")))
    assert json.dumps(CorpusStats())   # stats stay serializable for the manifest
