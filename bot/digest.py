"""The moderator digest: which posts' suggested order differs most, and who seeks empathy.

Pure rendering (no I/O): :func:`build_digest` selects and formats; proposals for actions the
subreddit allows are created through the ``propose`` callback so they carry approval numbers.
Everything users wrote (titles, excerpts, names, reasons) is quoted with
:func:`bot.markdown.escape`, so it cannot spoof links or formatting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.approvals import Proposal
from bot.config import SubredditConfig
from bot.markdown import escape, quote
from bot.suggestions import EmpathySeeker, PostSuggestion

__all__ = ["MAX_MODMAIL_CHARS", "Digest", "build_digest"]

MAX_MODMAIL_CHARS = 10_000
_SITE = "https://www.reddit.com"


@dataclass
class Digest:
    subreddit: str
    subject: str
    body: str
    posts: list[PostSuggestion] = field(default_factory=list)
    seekers: list[EmpathySeeker] = field(default_factory=list)
    proposals: list[Proposal] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.posts and not self.seekers


def _link(permalink: str) -> str:
    return permalink if permalink.startswith("http") else _SITE + permalink


def _tlc_link(post: PostSuggestion, tlc: str) -> str:
    return _link(post.permalink.rstrip("/") + "/" + tlc.removeprefix("t1_") + "/")


def build_digest(
    subreddit: str,
    suggestions: Sequence[PostSuggestion],
    config: SubredditConfig,
    now: float,
    propose: Callable[[str, str, dict[str, str]], Proposal] | None = None,
) -> Digest:
    th = config.thresholds
    posts = [
        s
        for s in suggestions
        if len(s.current_order) >= th.min_tlcs and s.distance >= th.min_rank_distance
    ]
    posts.sort(key=lambda s: (-s.distance, s.post))
    posts = posts[: th.max_posts]
    horizon = now - th.empathy_unanswered_hours * 3600
    seekers = sorted(
        {
            e.tlc: e for s in suggestions for e in s.empathy_seekers if e.created_utc <= horizon
        }.values(),
        key=lambda e: e.created_utc,
    )
    day = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"**prosocial digest for r/{subreddit}** — {day}", ""]
    proposals: list[Proposal] = []
    if posts:
        lines += ["### Posts whose suggested order differs most from the current one", ""]
    for i, s in enumerate(posts, 1):
        lines.append(
            f"{i}. [{quote(s.title, 120)}]({_link(s.permalink)}) — order distance "
            f"{s.distance:.2f}, {len(s.current_order)} top-level comments"
        )
        for rank, tlc in enumerate(s.suggested_order[:3], 1):
            cur = s.current_order.index(tlc) + 1 if tlc in s.current_order else "?"
            why = s.reasons.get(tlc, "")
            lines.append(
                f"    - suggested #{rank} (now #{cur}): [{tlc}]({_tlc_link(s, tlc)})"
                + (f" — {escape(why)}" if why else "")
            )
        if propose is not None and s.suggested_order:
            if config.actions.highlights:
                top = ",".join(s.suggested_order[:3])
                p = propose("highlights", s.post, {"tlcs": top})
                proposals.append(p)
                lines.append(
                    f'    - proposal **#{p.id}**: the bot\'s stickied "conversation highlights" '
                    f"comment linking the top {min(3, len(s.suggested_order))} suggested comments"
                )
            if config.actions.suggested_sort:
                p = propose("suggested_sort", s.post, {"sort": config.actions.sort})
                proposals.append(p)
                lines.append(f"    - proposal **#{p.id}**: suggested sort '{config.actions.sort}'")
    if seekers:
        lines += ["", "### Seeking empathy, no supportive reply yet", ""]
        for e in seekers:
            age_h = (now - e.created_utc) / 3600
            lines.append(
                f"- [{e.tlc}]({_link(e.permalink)}) by u/{escape(e.author or '[deleted]')}, "
                f"{age_h:.0f} h ago: {quote(e.excerpt)}"
            )
    if proposals:
        lines += [
            "",
            f"Reply `!approve {proposals[0].id}` (any proposal numbers, or "
            "`!reject N`) to decide. "
            + (
                "Dry-run is on: approved actions are logged, not performed."
                if config.dry_run
                else "Approved actions are performed and logged."
            ),
        ]
    body = "\n".join(lines)
    if len(body) > MAX_MODMAIL_CHARS:
        body = body[: MAX_MODMAIL_CHARS - 40].rsplit("\n", 1)[0] + "\n\n(digest truncated)"
    subject = f"prosocial digest r/{subreddit}: {len(posts)} posts, {len(seekers)} seekers"
    return Digest(subreddit, subject, body, posts, seekers, proposals)
