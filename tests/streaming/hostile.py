"""10,000 malformed or hostile records built from real ones, each with the rule that applies.

Expected outcome per record: ``dead:<reason>`` (must land in the dead-letter table/topic with
that reason) or ``ok`` (handled by a documented rule: unknown fields ignored, duplicates
stored once, out-of-order timestamps accepted, NUL characters removed).
"""

from __future__ import annotations

import json
import random
from typing import Any

from redditdata.events import TOPIC_COMMENTS, TOPIC_SUBMISSIONS

__all__ = ["hostile_records"]


def hostile_records(
    posts: list[dict[str, Any]], tlcs: list[dict[str, Any]], n: int = 10_000, seed: int = 7
) -> list[tuple[str, str | None, bytes, str]]:
    rnd = random.Random(seed)
    out: list[tuple[str, str | None, bytes, str]] = []

    def enc(d: Any) -> bytes:
        return json.dumps(d).encode()

    kinds = [
        "bad_json",
        "bad_encoding",
        "not_object",
        "wrong_type_utc",
        "wrong_type_score",
        "bad_id",
        "missing_body",
        "huge_body",
        "unknown_fields",
        "duplicate",
        "out_of_order",
        "nul_chars",
        "deep_nesting",
        "missing_post",
        "bad_parent",
        "self_parent",
        "post_wrong_type",
        "empty",
    ]
    for i in range(n):
        k = kinds[i % len(kinds)]
        c = dict(rnd.choice(tlcs))
        p = dict(rnd.choice(posts))
        fresh = f"zz{i:07x}"[-9:]
        if k == "bad_json":
            out.append(
                (TOPIC_COMMENTS, c["link_id"], enc(c)[: rnd.randint(1, 40)], "dead:bad_json")
            )
        elif k == "bad_encoding":
            out.append((TOPIC_COMMENTS, c["link_id"], b"\xff\xfe" + enc(c), "dead:bad_encoding"))
        elif k == "not_object":
            out.append((TOPIC_SUBMISSIONS, None, enc([p, 1, "x"]), "dead:not_object"))
        elif k == "wrong_type_utc":
            c.update(id=fresh, name=f"t1_{fresh}", created_utc="yesterday")
            out.append((TOPIC_COMMENTS, c["link_id"], enc(c), "dead:invalid_field"))
        elif k == "wrong_type_score":
            c.update(id=fresh, name=f"t1_{fresh}", score={"$gt": 1})
            out.append((TOPIC_COMMENTS, c["link_id"], enc(c), "dead:invalid_field"))
        elif k == "bad_id":
            c.update(id="DROP TABLE posts;--", name="")
            out.append((TOPIC_COMMENTS, c["link_id"], enc(c), "dead:invalid_field"))
        elif k == "missing_body":
            c.update(id=fresh, name=f"t1_{fresh}")
            c.pop("body", None)
            out.append((TOPIC_COMMENTS, c["link_id"], enc(c), "dead:missing_field"))
        elif k == "huge_body":
            c.update(id=fresh, name=f"t1_{fresh}", body="A" * 150_000)
            out.append((TOPIC_COMMENTS, c["link_id"], enc(c), "dead:invalid_field"))
        elif k == "unknown_fields":
            c.update(
                id=fresh,
                name=f"t1_{fresh}",
                __proto__={"x": 1},
                gilded=3,
                **{"'; DROP TABLE tlcs; --": 1},
            )
            out.append((TOPIC_COMMENTS, c["link_id"], enc(c), "ok"))
        elif k == "duplicate":
            out.append((TOPIC_COMMENTS, c["link_id"], enc(c), "ok"))
        elif k == "out_of_order":
            c.update(id=fresh, name=f"t1_{fresh}", created_utc=int(c["created_utc"]) - 86_400 * 30)
            out.append((TOPIC_COMMENTS, c["link_id"], enc(c), "ok"))
        elif k == "nul_chars":
            c.update(id=fresh, name=f"t1_{fresh}", body="nul\x00inside\x00 body", author="a\x00b")
            out.append((TOPIC_COMMENTS, c["link_id"], enc(c), "ok"))
        elif k == "deep_nesting":
            out.append((TOPIC_COMMENTS, None, b"[" * 100_000 + b"]" * 100_000, "dead:bad_json"))
        elif k == "missing_post":
            ghost = f"qq{i:07x}"[-9:]
            c.update(id=fresh, name=f"t1_{fresh}", parent_id=f"t3_{ghost}", link_id=f"t3_{ghost}")
            out.append((TOPIC_COMMENTS, c["link_id"], enc(c), "dead:missing_post"))
        elif k == "bad_parent":
            c.update(id=fresh, name=f"t1_{fresh}", parent_id="t5_nope")
            out.append((TOPIC_COMMENTS, c["link_id"], enc(c), "dead:invalid_field"))
        elif k == "self_parent":
            c.update(id=fresh, name=f"t1_{fresh}", parent_id=f"t1_{fresh}")
            out.append((TOPIC_COMMENTS, c["link_id"], enc(c), "dead:invalid_field"))
        elif k == "post_wrong_type":
            p.update(title=None)
            out.append((TOPIC_SUBMISSIONS, p["name"], enc(p), "dead:invalid_field"))
        elif k == "empty":
            out.append((TOPIC_SUBMISSIONS, "", b"", "dead:bad_json"))
    return out
