"""Reading which path decided an access event from its detail, and finding those decided offline."""

from __future__ import annotations

from contextlib import closing
from datetime import timedelta

from controller.domain.events import Event, EventType
from controller.services.lms_access import decided_by_of
from controller.services.lms_overview import OFFLINE_WORDS, decided_offline
from controller.services.offline_policy import DecidedBy
from controller.services.runtime import Runtime
from controller.store.events import EventFilter, EventLog, detail_field
from tests.conftest import FakeClock


def test_decided_by_is_read_from_the_word_the_decider_writes() -> None:
    assert decided_by_of("reader=rfid mode=openplus decided_by=offline_cache lms=timeout") is DecidedBy.CACHE
    assert decided_by_of("decided_by=lms") is DecidedBy.LMS
    assert decided_by_of("reader=rfid mode=openplus") is None
    assert decided_by_of(None) is None
    assert decided_by_of("decided_by=") is None and decided_by_of("decided_by=maybe") is None


def test_detail_field_is_the_one_reader_of_name_value_words() -> None:
    assert detail_field("reader=keypad mode=openplus", "reader=") == "keypad"
    assert detail_field("mode=openplus", "reader=") is None and detail_field(None, "x=") is None


def test_the_offline_filter_matches_whole_words_only(runtime: Runtime, clock: FakeClock) -> None:
    details = [
        "decided_by=offline_cache lms=timeout",
        "reader=rfid decided_by=offline_deny",
        "decided_by=offline_cachex",
        "decided_by=lms",
        "xdecided_by=offline_local",
        "decided_by=offline_%",
        None,
    ]
    with closing(runtime.connection()) as conn:
        log = EventLog(conn)
        for n, detail in enumerate(details):
            log.record(
                Event(
                    type=EventType.ACCESS_GRANTED,
                    at=clock() + timedelta(seconds=n),
                    door="entrance",
                    member_ref=f"m{n}",
                    detail=detail,
                )
            )
        log.record(
            Event(
                type=EventType.ADMIN_CHANGE,
                at=clock(),
                door="entrance",
                member_ref="admin",
                detail="decided_by=offline_cache",
            )
        )
        where = decided_offline(EventFilter())
        assert {e.member_ref for e in log.query(where)} == {"m0", "m1"}
        assert log.count_matching(where) == 2
        # A LIKE wildcard in a word is a plain character, not "anything".
        assert [e.member_ref for e in log.query(EventFilter(detail_any_of=("decided_by=offline_%",)))] == [
            "m5"
        ]
        assert log.count_matching(EventFilter(detail_any_of=OFFLINE_WORDS)) == 3  # with admin's
        later = decided_offline(
            EventFilter(since=clock() + timedelta(seconds=1), until=clock() + timedelta(days=1))
        )
        assert log.count_matching(later) == 1
