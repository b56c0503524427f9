"""The directional beam counter on mock pins: in, out, two in one opening, a flicker, an
incomplete sequence, turning back; counts exact. Times from a fake clock, never slept."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from drivers.beams import CrossingSequence, DirectionalCounter, PersonCrossed

A, B = 7, 8  # outside and inside beam
WALL = datetime(2025, 1, 15, 18, 0, tzinfo=UTC)


class Doorway:
    """Two beams on mock pins (low = broken) and a clock that moves only when told."""

    def __init__(self, factory, **kwargs) -> None:
        self.factory = factory
        self.t = 100.0
        self.crossed: list[PersonCrossed] = []
        self.counter = DirectionalCounter(
            A,
            B,
            on_crossed=self.crossed.append,
            monotonic=lambda: self.t,
            clock=lambda: WALL,
            pin_factory=factory,
            **kwargs,
        )
        for pin in (A, B):
            factory.pin(pin).drive_high()  # beams intact

    def step(self, *edges: str, gap: float = 0.2) -> None:
        """Edges like 'A+' (A broken) or 'B-' (B restored), each `gap` seconds after the last."""
        for edge in edges:
            self.t += gap
            pin = self.factory.pin(A if edge[0] == "A" else B)
            pin.drive_low() if edge[1] == "+" else pin.drive_high()

    def walk_in(self) -> None:
        self.step("A+", "B+", "A-", "B-")

    def walk_out(self) -> None:
        self.step("B+", "A+", "B-", "A-")

    @property
    def directions(self) -> list[str]:
        return [crossing.direction for crossing in self.crossed]


@pytest.fixture
def doorway(mock_factory):
    way = Doorway(mock_factory)
    yield way
    way.counter.close()


def test_a_then_b_is_in_b_then_a_is_out(doorway) -> None:
    doorway.walk_in()
    doorway.walk_out()
    assert doorway.directions == ["in", "out"]
    assert doorway.crossed[0] == PersonCrossed("in", WALL)
    assert doorway.counter.totals == {"in": 1, "out": 1}


def test_two_people_one_after_the_other_in_one_opening_count_two(doorway) -> None:
    doorway.walk_in()
    doorway.walk_in()
    assert doorway.directions == ["in", "in"]


def test_a_flicker_on_either_beam_counts_nothing_and_spoils_no_crossing(doorway) -> None:
    doorway.step("A+", "A-", gap=0.01)  # a sleeve through beam A: 10 ms
    doorway.step("B+", "B-", gap=0.01)
    assert doorway.directions == []
    doorway.step("A+", "B+")
    doorway.step("A-", "A+", gap=0.01)  # A flickers while the person is between the beams
    doorway.step("A-", "B-")
    assert doorway.directions == ["in"]


def test_a_flicker_of_the_inside_beam_before_someone_walks_in_does_not_make_it_out(doorway) -> None:
    doorway.step("B+", "B-", gap=0.01)
    doorway.walk_in()
    assert doorway.directions == ["in"]


def test_an_incomplete_sequence_times_out_and_counts_nothing(doorway) -> None:
    doorway.step("A+", "A-")  # broke the outside beam and went away
    doorway.t += 10  # past the 3 s timeout
    doorway.step("B+", "B-")  # someone inside, later, only at the inside beam
    assert doorway.directions == []
    doorway.t += 10
    doorway.walk_in()
    assert doorway.directions == ["in"]


def test_a_beam_blocked_longer_than_the_timeout_is_no_crossing(doorway) -> None:
    doorway.step("A+", "B+")
    doorway.t += 10  # someone stands in the doorway
    doorway.step("A-", "B-")
    assert doorway.directions == [] and doorway.counter.sequence.dropped == 1


def test_turning_back_between_the_beams_counts_nothing(doorway) -> None:
    doorway.step("A+", "B+", "B-", "A-")
    assert doorway.directions == []
    doorway.walk_out()
    assert doorway.directions == ["out"]


def test_pulse_outputs_a_then_b_count_in(mock_factory) -> None:
    """A commercial counter's outputs: a pulse on A, then one on B, never both at once."""
    way = Doorway(mock_factory, flicker_s=0.0)
    try:
        way.step("A+", "A-", "B+", "B-", gap=0.05)
        way.step("B+", "B-", "A+", "A-", gap=0.05)
        assert way.directions == ["in", "out"]
    finally:
        way.counter.close()


def test_active_high_beams(mock_factory) -> None:
    crossed: list[PersonCrossed] = []
    t = [0.0]
    counter = DirectionalCounter(
        A,
        B,
        on_crossed=crossed.append,
        broken_when_low=False,
        monotonic=lambda: t[0],
        pin_factory=mock_factory,
    )
    try:
        for pin, high in ((A, True), (B, True), (A, False), (B, False)):
            t[0] += 0.2
            mock_factory.pin(pin).drive_high() if high else mock_factory.pin(pin).drive_low()
        assert [c.direction for c in crossed] == ["in"]
    finally:
        counter.close()


def test_closed_counter_stops_counting(doorway) -> None:
    doorway.counter.close()
    doorway.walk_in()
    assert doorway.directions == []


def test_bad_timing_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="timeout must be > 0"):
        CrossingSequence(timeout_s=0)
