"""A local, loopback-only Reddit-API-compatible server for development and tests.

It serves real threads (from a Pushshift-style dump such as reddit-college) in the API's own
JSON shapes, on a simulated clock, with OAuth, listings, comment trees with "more" stubs,
``/api/morechildren``, modmail, wiki pages, moderator actions, ``X-Ratelimit-*`` headers and
fault injection. Real praw / asyncpraw clients talk to it through ``oauth_url`` /
``reddit_url``.
"""

from bot.devserver.faults import FaultPlan
from bot.devserver.server import DevRedditServer
from bot.devserver.world import RedditWorld, load_world

__all__ = ["DevRedditServer", "FaultPlan", "RedditWorld", "load_world"]
