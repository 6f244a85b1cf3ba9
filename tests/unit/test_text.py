from hardlab.core.text import printable, printable_data


def test_control_characters_are_shown_not_acted_on() -> None:
    assert printable("a\x1b[2Jb\x07\n\tc\x9b\u202e") == "a\\x1b[2Jb\\x07\n\tc\\x9b\\u202e"
    assert printable_data({"k\x1b": ["v\x00", ("t\x7f",)], "n": 1}) == {"k\\x1b": ["v\\x00", ("t\\x7f",)], "n": 1}
