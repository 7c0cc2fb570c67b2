"""Safe attachment file names (no I/O): each rule on names a sender could choose."""

from __future__ import annotations

import pytest

from m365bot.errors import ConfigError
from m365bot.outlook.filenames import check_name, safe_name, unique_name


@pytest.mark.parametrize(("raw", "safe"), [
    ("report.pdf", "report.pdf"),
    ("../../etc/passwd", "passwd"),
    ("..\\..\\Windows\\win.ini", "win.ini"),
    ("/etc/shadow", "shadow"),
    ("C:\\Users\\x\\evil.exe", "evil.exe"),
    ("C:evil.txt", "C_evil.txt"),
    ("a\x00.pdf.exe", "pdf.exe"),
    ("..", "attachment"),
    ("", "attachment"),
    (None, "attachment"),
    ("CON", "_CON"),
    ("con.txt", "_con.txt"),
    ("LPT1.log", "_LPT1.log"),
    ("COM9", "_COM9"),
    ("nul .txt", "_nul .txt"),
    ("CONSOLE.txt", "CONSOLE.txt"),
    ("trailing. . ", "trailing"),
    ("  .hidden", "hidden"),
    ('what?<>|*"name.txt', "what______name.txt"),
    ("tab\there.txt", "tab_here.txt"),
])
def test_safe_name(raw: str | None, safe: str) -> None:
    assert safe_name(raw) == safe


def test_long_names_keep_their_extension_and_items_get_eml() -> None:
    long = safe_name("x" * 300 + ".pdf")
    assert len(long) == 200 and long.endswith(".pdf")
    assert safe_name("Re: Angebot", ext=".eml") == "Re_ Angebot.eml"
    assert safe_name("mail.EML", ext=".eml") == "mail.EML"
    assert safe_name("", ext=".eml") == "attachment.eml"


def test_unique_name_counts_up_without_regard_to_case() -> None:
    assert unique_name("a.pdf", set()) == "a.pdf"
    assert unique_name("a.pdf", {"A.PDF"}) == "a (2).pdf"
    assert unique_name("a.pdf", {"a.pdf", "a (2).pdf"}) == "a (3).pdf"
    assert unique_name("README", {"readme"}) == "README (2)"


@pytest.mark.parametrize("bad", ["../x.pdf", "/abs.pdf", "C:\\x.pdf", "NUL", "a\x00b", "",
                                 "dir/x.pdf", "x."])
def test_a_name_the_caller_gives_is_refused_not_repaired(bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_name(bad)
    assert info.value.field == "name"
    assert check_name("fine name.pdf") == "fine name.pdf"
