"""A Redis worker's memory of which citizen each proof belongs to (`SubjectCache`).

It spares a check of a known proof the store's round trip that names the holder for the
audit. What a user of the service notices: a worker's memory follows the proofs that can
still be checked (issuance rate times proof lifetime), so it stops growing once the
first proofs have ended, and a long-lived parking-card proof is not pushed out by a
stream of five-minute counter proofs.
"""

from __future__ import annotations

from app.storage.redis.ctx import LATE_CHECK_S, SubjectCache

S = 1_000_000  # µs
LATE = LATE_CHECK_S * S


def test_a_subject_is_known_while_its_proof_lives_and_forgotten_after() -> None:
    cache = SubjectCache()
    end = 300 * S
    cache.put("jti-1", "subject-1", end, now_us=0)
    assert cache.get("jti-1", now_us=end) == "subject-1"
    assert cache.get("jti-1", now_us=end + LATE - 1) == "subject-1"  # a check just late
    assert cache.get("jti-1", now_us=end + LATE) is None
    assert cache.get("jti-2", now_us=0) is None


def test_memory_follows_the_live_proofs_not_every_proof_issued() -> None:
    """An hour of issuance at 60 proofs/s, each living 5 minutes: the worker ends up
    holding the proofs of the last 5 minutes (and the late-check margin), not 216,000."""
    cache = SubjectCache(size=1_000_000)
    lifetime, rate = 300 * S, 60
    sizes = []
    for second in range(3_600):
        now = second * S
        for i in range(rate):
            cache.put(f"{second}-{i}", "subject", now + lifetime, now_us=now)
        sizes.append(len(cache))
    live = rate * (lifetime + LATE) // S
    assert sizes[-1] <= live + rate
    # flat once the first proofs have ended: the last 50 minutes hold the same count
    assert max(sizes[600:]) - min(sizes[600:]) <= rate


def test_when_full_the_proofs_nearest_their_end_go_first() -> None:
    cache = SubjectCache(size=3)
    year = 365 * 86_400 * S
    cache.put("parking", "holder-p", year, now_us=0)
    for i in range(10):
        cache.put(f"counter-{i}", f"holder-{i}", (300 + i) * S, now_us=0)
    assert len(cache) == 3
    assert cache.get("parking", now_us=0) == "holder-p"
    assert [cache.get(f"counter-{i}", now_us=0) for i in (8, 9)] == ["holder-8", "holder-9"]
    assert cache.get("counter-0", now_us=0) is None


def test_a_proof_put_again_with_a_later_end_keeps_the_later_one() -> None:
    cache = SubjectCache()
    cache.put("jti", "subject", 100 * S - LATE, now_us=0)
    cache.put("jti", "subject", 500 * S - LATE, now_us=0)
    # the first end passes: the entry it came from was replaced, so it stays
    cache.put("other", "subject-2", 600 * S - LATE, now_us=200 * S)
    assert cache.get("jti", now_us=200 * S) == "subject"
    assert cache.get("jti", now_us=500 * S) is None
