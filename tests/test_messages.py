"""What error lines show of the values users give: enough to recognise them, never thousands of characters."""

from pipeline.common.errors import cut, quote, readable


def test_quote_shows_short_values_as_python_does_and_cuts_long_ones_saying_their_length():
    assert quote("threat") == "'threat'" and quote(3) == "3" and quote("it's") == '"it\'s"'
    long = quote("a" * 2000 + "z")
    assert long.startswith("'aaa") and "…" in long and long.endswith("z' (2,001 characters)") and len(long) < 110


def test_cut_keeps_both_ends_of_a_path():
    path = "/data/" + "deep/" * 100 + "labels.jsonl"
    shown = cut(path, 60)
    assert len(shown) == 60 and shown.startswith("/data/deep/") and shown.endswith("/labels.jsonl")


def test_readable_cuts_what_a_message_echoes_and_leaves_apostrophes_alone():
    message = "the model's folder doesn't hold " + "word " * 30 + "so it can't load"
    assert readable(message) == message
    echoed = readable("Got '" + "y" * 300 + "' instead.")
    assert echoed.endswith("' (300 characters) instead.") and len(echoed) < 120
    assert len(readable("x " * 5000)) == 2000
