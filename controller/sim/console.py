"""The simulator's console: a person (or a script on stdin) acts at the simulated entrance."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import closing
from typing import TYPE_CHECKING, TextIO

from controller.domain.modes import DoorMode
from controller.door.branch import BranchService
from controller.door.ports import DoorSnapshot, Phase
from controller.services.demo import DEMO_PIN, demo_card_lines
from controller.services.events import event_line
from controller.sim.hardware import SimulatedHardware

if TYPE_CHECKING:  # only `simulate --lms` loads it (and pysip2)
    from controller.sim.demo_lms import DemoLms

WAIT_SECONDS = 3.0  # longer than the LMS's default reply timeout (2 s) plus the door's margin
CHECKING_PHASE = "checking"  # the door's phase while the library system checks card and PIN

HELP = f"""commands:
  card NUMBER     hold a card to the reader (10-digit tag: RFID reader; else barcode scanner);
                  a member let in walks in past the people counter
  keys KEYS       type on the keypad, e.g. `keys 1234#` (* clears, # submits)
  open | close    open or close the door
  rex             press the exit button inside
  walk in | out   someone walks through the doorway past the people counter's beams
  inside          press the 'open' button inside (door operator; lets people out)
  helpbutton      press the help button at the entrance
  mode MODE       staffed | openplus | closed | closure (the schedule stops steering)
  status          door state, people inside and outputs (relay, LEDs, buzzer, lights, ...)
  events [N]      the last N events (default 10)
  demo            the demo cards (every demo PIN is {DEMO_PIN})
  wait SECONDS    pause (for scripts)
  help | quit"""
LMS_HELP = """  lms down | up   stop or start the demo library system (watch the offline policy decide)
  lms             is the demo library system up?"""


class Console:
    """Reads commands line by line and prints what the door shows and does."""

    def __init__(
        self,
        service: BranchService,
        sim: SimulatedHardware,
        out: Callable[[str], None],
        lms: DemoLms | None = None,
    ):
        self._service = service
        self._sim = sim
        self._out = out
        self._lms = lms  # `simulate --lms`: the demo library system the door checks with
        self._changed = threading.Condition()
        self._last: tuple | None = None
        self._stop = threading.Event()
        service.listeners.append(self._on_change)
        sim.at_rest()

    def _on_change(self, snapshot: DoorSnapshot) -> None:
        shown = (
            snapshot.mode,
            snapshot.phase,
            snapshot.relay_unlocked,
            snapshot.door_open,
            snapshot.alarm,
            snapshot.message,
            snapshot.pin_keys,
        )
        if shown == self._last:
            return
        self._last = shown
        relay = "UNLOCKED" if snapshot.relay_unlocked else "locked"
        door = "open" if snapshot.door_open else "closed"
        alarm = f" ALARM:{snapshot.alarm}" if snapshot.alarm else ""
        keys = f" PIN:{'*' * snapshot.pin_keys}" if snapshot.pin_keys else ""
        self._out(
            f"[door] {snapshot.message}  | {snapshot.mode.value}, {snapshot.phase.value}, "
            f"relay {relay}, door {door}{alarm}{keys}"
        )
        with self._changed:
            self._changed.notify_all()

    def run(self, lines: TextIO, prompt: bool) -> bool:
        """Read commands until `quit` (True: the person asked to stop) or the end of input."""
        if not self._service.wait_readers_connected(WAIT_SECONDS):
            self._out("warning: a reader's port did not open; cards may not arrive")
        while not self._stop.is_set():
            if prompt:
                print("door> ", end="", flush=True)
            line = lines.readline()
            if not line:
                return False
            if not self.execute(line.strip()):
                return True
        return False

    def execute(self, line: str) -> bool:
        """Run one command; False means quit."""
        if not line or line.startswith("#"):
            return True
        command, _, arg = line.partition(" ")
        arg = arg.strip()
        sim, service = self._sim, self._service
        if command == "card" and arg:
            pulse_before = self._in_pulse()
            with self._changed:
                self._out(f"(card held to the {sim.present_card(arg)})")
                self._changed.wait(WAIT_SECONDS)  # the reader thread delivers it
            service.loop.wait_idle(WAIT_SECONDS)
            self._walk_in_if_let_in(pulse_before)
        elif command == "keys" and arg:
            if any(key not in "0123456789*#" for key in arg):
                self._out(f"not keypad keys: {arg!r}")
                return True
            pulse_before = self._in_pulse()
            sim.press_keys(arg)
            service.loop.wait_idle(WAIT_SECONDS)
            self._wait_for_answer()
            self._walk_in_if_let_in(pulse_before)
        elif command in ("open", "close", "rex", "inside", "helpbutton"):
            {
                "open": sim.open_door,
                "close": sim.close_door,
                "rex": sim.press_rex,
                "inside": sim.press_open_button,
                "helpbutton": sim.press_help_button,
            }[command]()
            service.loop.wait_idle(WAIT_SECONDS)
        elif command == "walk" and arg in ("in", "out"):
            if sim.settings.hardware.counter is None:
                self._out("no beams to walk past: [counter] counts on camera, or not at all")
                return True
            sim.walk(arg)
            service.loop.wait_idle(WAIT_SECONDS)
        elif command == "mode" and arg in {m.value for m in DoorMode}:
            service.set_mode(DoorMode(arg))
            service.loop.wait_idle(WAIT_SECONDS)
        elif command == "status":
            outputs = ", ".join(f"{k} {'on' if v else 'off'}" for k, v in sim.outputs().items())
            snapshot = service.snapshot()
            if snapshot is not None and snapshot.occupancy is not None:
                self._out(f"inside: {snapshot.occupancy} (people counter)")
            self._out(f"outputs: {outputs}")
        elif command == "events":
            self._print_events(int(arg) if arg.isdigit() else 10)
        elif command == "demo":
            for line in demo_card_lines():
                self._out(line)
            if self._lms is not None:
                for line in self._lms.demo_lines():
                    self._out(line)
        elif command == "lms" and self._lms is not None and arg in ("", "down", "up"):
            lms = self._lms
            self._out({"": lms.status, "down": lms.down, "up": lms.up}[arg]())
        elif command == "wait" and _is_number(arg):
            self._stop.wait(float(arg))
        elif command in ("quit", "exit"):
            return False
        else:
            self._out(help_text(self._lms is not None))
        return True

    def _wait_for_answer(self) -> None:
        """On a branch linked to a library system the door asks it first (phase `checking`,
        the display says "one moment"): a script's next line comes after the answer, or the
        offline policy's decision, as it would for a person at the door."""
        with self._changed:
            self._changed.wait_for(self._answered, WAIT_SECONDS)
        self._service.loop.wait_idle(WAIT_SECONDS)

    def _in_pulse(self) -> bool:
        snapshot = self._service.snapshot()
        return snapshot is not None and snapshot.phase is Phase.UNLOCKED

    def _walk_in_if_let_in(self, pulse_before: bool) -> None:
        """A member just let in walks in past the people counter's beams, so the demo shows
        them inside and logs no grant_unused (the door itself still moves on `open`/`close`)."""
        snapshot = self._service.snapshot()
        beams = self._sim.settings.hardware.counter is not None  # a camera counter sees nobody here
        if pulse_before or snapshot is None or not beams or not self._in_pulse():
            return
        self._out("(the member walks in past the people counter)")
        self._sim.walk("in")
        self._service.loop.wait_idle(WAIT_SECONDS)

    def _answered(self) -> bool:
        snapshot = self._service.snapshot()
        return snapshot is None or snapshot.phase.value != CHECKING_PHASE

    def _print_events(self, count: int) -> None:
        runtime = self._service.runtime
        with closing(runtime.connection()) as conn:
            for event in reversed(runtime.events(conn).query(limit=count)):
                self._out(f"  {event_line(event)}")

    def stop(self) -> None:
        self._stop.set()


def help_text(lms: bool) -> str:
    """The console's commands; with the demo library system (`--lms`), its commands too."""
    return f"{HELP}\n{LMS_HELP}" if lms else HELP


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
