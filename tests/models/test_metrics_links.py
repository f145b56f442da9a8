from __future__ import annotations

import pytest

from models.metrics.conversation import donations, educational_links, link_replies
from models.metrics.domains import count_links, find_urls, url_host
from tests.models.fakes import tree


def test_url_host_strips_scheme_www_port_and_path() -> None:
    assert url_host("https://www.Example.com:8080/a?b#c") == "example.com"
    assert url_host("www.khanacademy.org/math") == "khanacademy.org"


def test_find_urls_in_markdown_and_bare_www() -> None:
    text = "see [this](https://en.wikipedia.org/wiki/Foo) and www.gofundme.com/f/x. Also a.txt"
    assert find_urls(text) == ["https://en.wikipedia.org/wiki/Foo", "www.gofundme.com/f/x."]


@pytest.mark.parametrize(
    ("url", "edu", "info", "don"),
    [
        ("https://en.m.wikipedia.org/wiki/X", 1, 1, 0),
        ("https://www.khanacademy.org/", 1, 0, 0),
        ("http://registrar.emory.edu/calendar", 1, 0, 0),
        ("https://www.ox.ac.uk/admissions", 1, 0, 0),
        ("https://stackoverflow.com/q/1", 0, 1, 0),
        ("https://books.google.com/books?id=1", 0, 1, 0),
        ("https://www.gofundme.com/f/help", 0, 0, 1),
        ("https://www.givedirectly.org/", 0, 0, 1),
        ("https://archive.org/donate/", 0, 0, 1),
        ("https://archive.org/details/x", 0, 0, 0),
        ("https://notwikipedia.org/", 0, 0, 0),  # suffix match needs a dot boundary
        ("https://youtube.com/watch?v=1", 0, 0, 0),
    ],
)
def test_domain_classes(url: str, edu: int, info: int, don: int) -> None:
    c = count_links(f"look: {url}")
    assert (c.links, c.edu, c.info, c.donation) == (1, edu, info, don)


def test_tree_link_metrics_count_urls_in_replies_only() -> None:
    t = tree(
        (
            "op",
            "https://www.gofundme.com/f/tlc-own-link",
            [
                (
                    "a",
                    "https://redcross.org and https://coursera.org/learn/x",
                    [("b", "https://reddit.com/r/College")],
                ),
                ("c", "[deleted]"),
            ],
        )
    )
    assert link_replies(t) == 3
    assert educational_links(t) == 1
    assert donations(t) == 1
