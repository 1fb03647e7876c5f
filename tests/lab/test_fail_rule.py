"""The fail_rule row's rule per attempt (:func:`mcstudy.lab.checks.rule_outcome`), on the
slow watermark checks of real attempts (mark, free pages, alloc_flags as traced):

* amd64 7.2.13 (two zones, DMA32 then DMA; ``mcstudy lab --arch amd64 --kernel 7.2
  --pressure 0,300,400``): the rule by mark sizes alone (a check below the first one's mark
  is a min check) took ZONE_DMA's low-mark check for DMA32's min check and called 149 of
  7200 successful attempts failures (fail_rule 0.979; 0.995 in an earlier run); 18 of them
  had DMA32 at min and were served by ZONE_DMA;
* arm64 6.12.118: from 6.7 the fast path checks a zone not yet below its high mark at the
  high mark first (``ZONE_BELOW_HIGH``), with the low mark's flags.
"""

from __future__ import annotations

from mcstudy.lab.checks import rule_outcome
from mcstudy.lab.guestdata import Attempt

LOW, MIN, KSWAPD_BALANCE = 0x801, 0x850, 0x0


def attempt(failed, checks):
    return Attempt(0.0, failed, [(m, f) for m, f, _ in checks], [fl for _, _, fl in checks])


def by_mark_size(a: Attempt) -> bool:
    """The rule before: any check below the first one's mark with free <= mark fails."""
    first = a.checks[0][0]
    return any(fr <= mk for mk, fr in a.checks if mk < first)


def test_lower_zone_low_check_is_not_a_min_check():
    # DMA32 fails its low mark (boosted 1486), ZONE_DMA its own (40 + boost 512 = 552,
    # and its lowmem reserve); DMA32 then passes its min mark (1380) in the quick check,
    # untraced: the allocation succeeds
    a = attempt(False, [(1486, 1399, LOW), (552, 213, LOW)])
    assert rule_outcome(a)[0] is False
    assert by_mark_size(a) is True  # what the old rule said


def test_dma_serves_when_dma32_is_at_min():
    a = attempt(False, [(1486, 1349, LOW), (40, 230, LOW), (1380, 1349, MIN)])
    fails, at_min, lower = rule_outcome(a)
    assert (fails, at_min, lower) == (False, [(1380, 1349)], True)
    assert by_mark_size(a) is True


def test_fails_when_every_zone_fails_at_min():
    # DMA32 at high then low (6.7+), DMA at low; both at min
    a = attempt(
        True,
        [(1592, 1276, LOW), (1486, 1276, LOW), (40, 213, LOW), (1380, 1276, MIN), (32, 213, MIN)],
    )
    assert rule_outcome(a) == (True, [(1380, 1276)], False)


def test_high_mark_first_is_one_zone():
    a = attempt(True, [(1732, 247, LOW), (1617, 247, LOW), (1502, 247, MIN)])
    assert rule_outcome(a)[0] is True
    # one zone above its min mark at the check: the attempt succeeds
    b = attempt(False, [(1617, 1510, LOW), (1502, 1510, MIN)])
    assert rule_outcome(b)[0] is False


def test_kswapd_balance_checks_and_untraced_flags():
    # pgdat_balanced() from wakeup_kswapd() checks with alloc_flags 0: not the allocation's
    a = attempt(False, [(1617, 1400, LOW), (1732, 1400, KSWAPD_BALANCE), (1502, 1510, MIN)])
    assert rule_outcome(a)[0] is False
    # a check traced without flags: the marks tell them apart (one zone)
    legacy = Attempt(0.0, True, [(598, 470), (479, 470)], [])
    assert rule_outcome(legacy) == (True, [(479, 470)], False)
    assert rule_outcome(Attempt(0.0, False, [], []))[0] is False
