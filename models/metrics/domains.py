"""URLs in comments and the domain lists behind the link metrics.

* :data:`INFO_DOMAINS` — the paper's Appendix A.1 list of "websites commonly used as
  information references"; a link to one makes a reply information-sharing.
* :data:`EDU_DOMAINS` — educational sites for *educational-link replies*. The paper names only
  the category (e.g. wikipedia.org), so this list is ours: any host under an academic
  top-level domain (``.edu``, ``.edu.<cc>``, ``.ac.<cc>``) plus open courseware, reference
  works, scholarly indexes and the public student-aid / admissions-test bodies that college
  subreddits cite.
* :data:`DONATION_DOMAINS` — the paper's Appendix A.6 list is missing from its text, so this
  list is ours: the major international charities and humanitarian organisations, charity
  evaluators/portals, and the main donation/crowdfunding platforms. General payment links
  (paypal.me, venmo) are left out: they mostly settle private debts, not donations.

A URL is ``http(s)://…`` or ``www.…``; a host matches a listed domain when it equals it or is a
subdomain of it (``en.m.wikipedia.org`` → ``wikipedia.org``). Bare ``example.com`` text without
scheme or ``www.`` is not counted (too many false positives such as file names).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import NamedTuple

__all__ = [
    "DONATION_DOMAINS",
    "EDU_DOMAINS",
    "INFO_DOMAINS",
    "LinkCounts",
    "count_links",
    "find_urls",
    "host_matches",
    "is_donation_host",
    "is_edu_host",
    "is_info_host",
    "url_host",
]

INFO_DOMAINS: frozenset[str] = frozenset(
    {
        "wikipedia.org",
        "stackoverflow.com",
        "quora.com",
        "imdb.com",
        "webmd.com",
        "merriam-webster.com",
        "nih.gov",
        "weather.com",
        "genius.com",
        "books.google.com",
        "github.com",
        "wikihow.com",
        "answers.yahoo.com",
        "ehow.com",
        "thefreedictionary.com",
        "dictionary.com",
        "lifehacker.com",
    }
)

EDU_DOMAINS: frozenset[str] = frozenset(
    {
        # open courseware / learning platforms
        "khanacademy.org",
        "coursera.org",
        "edx.org",
        "udemy.com",
        "udacity.com",
        "codecademy.com",
        "freecodecamp.org",
        "brilliant.org",
        "openstax.org",
        "ocw.mit.edu",
        "duolingo.com",
        "quizlet.com",
        "ted.com",
        "academicearth.org",
        "saylor.org",
        # reference works and scholarly indexes
        "wikipedia.org",
        "wikibooks.org",
        "wikiversity.org",
        "britannica.com",
        "wolframalpha.com",
        "scholar.google.com",
        "jstor.org",
        "arxiv.org",
        "pubmed.ncbi.nlm.nih.gov",
        "ncbi.nlm.nih.gov",
        "sciencedirect.com",
        "researchgate.net",
        "semanticscholar.org",
        "doi.org",
        "plato.stanford.edu",
        # public education bodies and admissions-test / application organisations
        "ed.gov",
        "studentaid.gov",
        "fafsa.gov",
        "collegeboard.org",
        "act.org",
        "commonapp.org",
        "ets.org",
        "nces.ed.gov",
        "bls.gov",
    }
)

DONATION_DOMAINS: frozenset[str] = frozenset(
    {
        # crowdfunding and donation platforms
        "gofundme.com",
        "gofund.me",
        "justgiving.com",
        "givebutter.com",
        "fundly.com",
        "crowdrise.com",
        "classy.org",
        "donorschoose.org",
        "globalgiving.org",
        "kiva.org",
        "kickstarter.com",
        "indiegogo.com",
        "patreon.com",
        "ko-fi.com",
        "buymeacoffee.com",
        "every.org",
        "give.org",
        "networkforgood.org",
        "benevity.org",
        # charity evaluators
        "givewell.org",
        "charitynavigator.org",
        "thelifeyoucansave.org",
        "givingwhatwecan.org",
        # major charities and humanitarian organisations
        "givedirectly.org",
        "redcross.org",
        "icrc.org",
        "ifrc.org",
        "unicef.org",
        "unicefusa.org",
        "savethechildren.org",
        "doctorswithoutborders.org",
        "msf.org",
        "oxfam.org",
        "worldwildlife.org",
        "wwf.org",
        "habitat.org",
        "stjude.org",
        "feedingamerica.org",
        "salvationarmyusa.org",
        "charitywater.org",
        "againstmalaria.com",
        "care.org",
        "directrelief.org",
        "wfp.org",
        "rescue.org",
        "unhcr.org",
        "heifer.org",
        "worldvision.org",
        "plan-international.org",
        "amnesty.org",
        "cancer.org",
        "alz.org",
        "heart.org",
        "trevorproject.org",
        "thetrevorproject.org",
        "afsp.org",
        "nami.org",
        "shelterbox.org",
        "mercycorps.org",
        "americares.org",
        "operationsmile.org",
        "smiletrain.org",
        "wikimediafoundation.org",
        "donate.wikimedia.org",
        "archive.org/donate",
    }
)

_URL = re.compile(r"(?:https?://|\bwww\.)[^\s<>()\[\]{}\"'|\\^`]+", re.IGNORECASE)
_ACADEMIC_TLD = re.compile(r"(?:^|\.)(?:edu|edu\.[a-z]{2}|ac\.[a-z]{2})$")


def find_urls(text: str) -> list[str]:
    """URLs in ``text`` (``http(s)://…`` or ``www.…``), in order of appearance."""
    if "http" not in text and "www." not in text and "HTTP" not in text and "WWW." not in text:
        return []
    return _URL.findall(text)


def url_host(url: str) -> str:
    """Lower-case host of a URL without ``www.``, port or credentials (``""`` if none)."""
    u = url.lower()
    if "://" in u:
        u = u.split("://", 1)[1]
    host = re.split(r"[/?#]", u, maxsplit=1)[0]
    host = host.rsplit("@", 1)[-1].split(":", 1)[0].strip(".")
    host = host.removeprefix("www.")
    return host


def _path_key(url: str) -> str:
    u = url.lower().split("://", 1)[-1]
    u = u.removeprefix("www.")
    return u


def host_matches(host: str, domains: Iterable[str]) -> bool:
    """Whether ``host`` is one of ``domains`` or a subdomain of one."""
    for d in domains:
        if "/" in d:
            continue
        if host == d or host.endswith("." + d):
            return True
    return False


@lru_cache(maxsize=65536)
def is_info_host(host: str) -> bool:
    """Appendix A.1 information-reference site."""
    return host_matches(host, INFO_DOMAINS)


@lru_cache(maxsize=65536)
def is_edu_host(host: str) -> bool:
    """Educational site: an academic TLD or a host in :data:`EDU_DOMAINS`."""
    return bool(_ACADEMIC_TLD.search(host)) or host_matches(host, EDU_DOMAINS)


def is_donation_host(host: str, url: str = "") -> bool:
    """Charity / donation / crowdfunding site (path entries such as ``archive.org/donate``
    match on the URL's host+path prefix)."""
    if host_matches(host, DONATION_DOMAINS):
        return True
    if url:
        key = _path_key(url)
        return any("/" in d and key.startswith(d) for d in DONATION_DOMAINS)
    return False


class LinkCounts(NamedTuple):
    """URL counts of one text."""

    links: int
    edu: int
    info: int
    donation: int


_NO_LINKS = LinkCounts(0, 0, 0, 0)


def count_links(text: str) -> LinkCounts:
    """Counts of all / educational / information-reference / donation URLs in ``text``."""
    urls = find_urls(text)
    if not urls:
        return _NO_LINKS
    edu = info = don = 0
    for url in urls:
        host = url_host(url)
        edu += is_edu_host(host)
        info += is_info_host(host)
        don += is_donation_host(host, url)
    return LinkCounts(len(urls), edu, info, don)
