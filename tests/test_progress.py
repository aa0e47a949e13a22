"""Progress: what clean, validate, dedupe and load tell while they work, the plain lines a log gets
when stderr is not a terminal, and the bars' clocks."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import TimeElapsedColumn

from crmmigrate.clean import clean, load_cleaning
from crmmigrate.cli.terminal.console import PROGRESS_EVERY, ProgressBars, ProgressLines, progress_every
from crmmigrate.dedupe import dedupe, load_dedupe_rules, match
from crmmigrate.load import connect, load
from crmmigrate.model import MODEL
from crmmigrate.progress import Tally
from crmmigrate.validate import load_rules, load_thresholds, validate

FIRST = ["Anna", "Bernd", "Carla", "Dmitri", "Elena", "Farid", "Greta", "Hiro", "Ines", "Jonas"]
LAST = ["Albrecht", "Brandt", "Castillo", "Dobrev", "Eriksen", "Fischer", "Gallo", "Horvath", "Ivanova", "Jansen"]


def contacts(count: int = 80) -> pd.DataFrame:
    """Contacts with a copy of every fourth one, written another way."""
    columns = list(MODEL.entity("contact").field_names)
    rows = []
    for i in range(count):
        first, last = FIRST[i % 10], LAST[(i * 3 + i // 10) % 10]
        rows.append({"id": f"C{i}", "first_name": first, "last_name": last, "account_id": f"A{i % 20}",
                     "email": f"{first}.{last}{i}@example.com".lower(), "phone": f"+4930{5550000 + i * 37}",
                     "mailing_country": "Germany"})
        if i % 4 == 0:
            rows.append({**rows[-1], "id": f"C{i}x", "first_name": f" {first.upper()} ",
                         "phone": f"030 {5550000 + i * 37}"})
    frame = pd.DataFrame([{c: r.get(c) for c in columns} for r in rows], columns=columns, dtype="str")
    frame["_custom"], frame["_issues"], frame["_source"], frame["_file"] = None, None, "crm", "contacts.csv"
    frame["_row"] = [str(i) for i in range(2, len(rows) + 2)]
    return frame


class Told:
    """A Progress that keeps what it is told, per (stage, item)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int, int | None]] = []
        self.lock = threading.Lock()

    def __call__(self, stage: str, item: str, done: int, total: int | None) -> None:
        with self.lock:
            self.calls.append((stage, item, done, total))

    def of(self, stage: str, item: str) -> list[tuple[int, int | None]]:
        return [(done, total) for s, i, done, total in self.calls if (s, i) == (stage, item)]


def counts_rise_to_the_total(told: list[tuple[int, int | None]], total: int, *, steps: int = 3) -> None:
    """Told from 0 up to `total`, never back, with at least `steps` distinct counts on the way."""
    done = [d for d, _ in told]
    assert done[0] == 0 and done[-1] == total, told
    assert all(t == total for _, t in told)
    assert done == sorted(done), told
    assert len(set(done)) >= steps, told


# -- the library tells -----------------------------------------------------------------------------


def test_clean_tells_each_entitys_rows_a_field_at_a_time():
    data = contacts()
    told = Told()
    result = clean({"contact": data}, rules=load_cleaning(), region="DE", progress=told)
    assert len(result.changes)  # it did clean something
    # one count per cleaned field: the contact rules clean more than three fields
    counts_rise_to_the_total(told.of("clean", "contact"), len(data), steps=4)
    assert {s for s, _, _, _ in told.calls} == {"clean"}


def test_clean_without_progress_tells_nothing_and_cleans_the_same():
    data = contacts()
    told = Told()
    with_progress = clean({"contact": data}, rules=load_cleaning(), region="DE", progress=told)
    without = clean({"contact": data}, rules=load_cleaning(), region="DE")
    pd.testing.assert_frame_equal(with_progress.datasets["contact"], without.datasets["contact"])
    pd.testing.assert_frame_equal(with_progress.changes, without.changes)


def test_validate_tells_each_entitys_rows_a_rule_at_a_time():
    data = contacts()
    told = Told()
    validate({"contact": data}, rules=load_rules(), thresholds=load_thresholds(), progress=told)
    counts_rise_to_the_total(told.of("validate", "contact"), len(data), steps=4)


def test_load_tells_each_entitys_rows_a_batch_at_a_time_and_ends_at_all_of_them(tmp_path):
    data = contacts()
    data.loc[3, "last_name"] = None  # refused by the loader: it counts as through all the same
    told = Told()
    validation = validate({"contact": data}, rules=load_rules(), thresholds=load_thresholds())
    result = load(connect(f"sqlite:///{tmp_path / 'target.db'}"), {"contact": data}, validation=validation,
                  run_id="r1", batch_rows=16, bulk_rows=0, progress=told)
    assert sum(s.rejected for s in result.sources) == 1
    done = [d for d, _ in told.of("load", "contact")]
    assert {stage for stage, *_ in told.calls} == {"load"}
    assert done == sorted(done) and done[-1] == len(data) and len(set(done)) >= 4, done
    assert all(t == len(data) for _, t in told.of("load", "contact"))


def test_dedupe_tells_every_phase_and_the_pairs_a_chunk_at_a_time(monkeypatch):
    monkeypatch.setattr("crmmigrate.dedupe.columns.CHUNK", 4)  # several chunks from a few dozen pairs
    data = contacts()
    told = Told()
    result = dedupe({"contact": data}, load_dedupe_rules(), progress=told)
    found = result.entities[0]
    assert len(found.merged)  # the copies were merged
    phases = list(dict.fromkeys(item for stage, item, _, _ in told.calls if stage == "dedupe"))
    assert phases == ["contact: blocking", "contact: comparing pairs", "contact: fitting", "contact: scoring pairs",
                      "contact: clustering", "contact: survivors"]
    assert found.candidates > 3 * 4
    counts_rise_to_the_total(told.of("dedupe", "contact: comparing pairs"), found.candidates, steps=4)
    counts_rise_to_the_total(told.of("dedupe", "contact: scoring pairs"), found.candidates, steps=4)
    steps = match.fit_steps(load_dedupe_rules().entities["contact"])
    counts_rise_to_the_total(told.of("dedupe", "contact: fitting"), steps)
    for phase in phases:  # each one finishes
        done, total = told.of("dedupe", phase)[-1]
        assert done == total


def test_clustering_tells_the_pairs_it_has_joined(monkeypatch):
    from crmmigrate.dedupe import cluster as clustering

    monkeypatch.setattr(clustering, "TELL_EVERY", 2)
    told: list[int] = []
    # a chain of five records: a linked group of more than two, joined pair by pair
    left, right = [0, 1, 2, 3], [1, 2, 3, 4]
    groups = clustering.cluster(5, left, right, [0.99, 0.98, 0.97, 0.96], apart=set(),
                                distinct=lambda a, b: np.zeros(len(a), dtype=bool), done=told.append)
    assert len(set(groups.label)) == 1
    assert sum(told) == 4 and len([t for t in told if t]) >= 2


def test_a_tally_never_goes_back_and_ends_at_its_total():
    told = Told()
    tally = Tally(told, "clean", "contact", 10)
    tally.part(1, 3)
    tally.add(1)
    tally.part(1, 3)  # already past: nothing told
    tally.finish()
    assert told.of("clean", "contact") == [(0, 10), (3, 10), (4, 10), (10, 10)]
    Tally(None, "clean", "contact", 10).add(5)  # no progress: nothing to call


# -- the reporters ---------------------------------------------------------------------------------


class Flushed(io.StringIO):
    """A stream that records what had been written each time it was flushed."""

    def __init__(self) -> None:
        super().__init__()
        self.at_flush: list[str] = []

    def flush(self) -> None:
        self.at_flush.append(self.getvalue())


def test_log_lines_say_when_an_item_starts_and_ends_each_written_whole_and_flushed():
    clock = iter([0.0, 2.5])
    stream = Flushed()
    lines = ProgressLines(stream, every=60, clock=lambda: next(clock))
    with lines:
        lines("extract", "accounts", 0, None)
        lines("extract", "accounts", 1_500, None)
        lines("extract", "accounts", 3_000, 3_000)
        lines("extract", "accounts", 3_000, 3_000)  # told again: said once
    text = stream.getvalue()
    assert re.fullmatch(r"crmmigrate: \d\d:\d\d:\d\d extract accounts: started\n"
                        r"crmmigrate: \d\d:\d\d:\d\d extract accounts: done, 3,000 in 2\.5 s\n", text), text
    # each line flushed as it was written: a log (nohup, > log 2>&1) has it at once
    assert [s.count("\n") for s in stream.at_flush] == [1, 2]


def test_a_long_item_gets_a_line_every_interval_and_a_finished_one_none():
    stream = Flushed()
    with ProgressLines(stream, every=0.02) as lines:
        lines("dedupe", "contact: comparing pairs", 0, 4_000)
        lines("dedupe", "contact: comparing pairs", 1_000, 4_000)
        deadline = time.monotonic() + 5
        while stream.getvalue().count("running for") < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        lines("dedupe", "contact: comparing pairs", 4_000, 4_000)
        written = stream.getvalue()
        time.sleep(0.1)
        assert stream.getvalue() == written  # nothing is going: no more lines
    beats = [line for line in written.splitlines() if "running for" in line]
    assert len(beats) >= 3
    assert all(re.search(r"dedupe contact: comparing pairs: 1,000 of 4,000 \(25%\), [\d,]+ a second, running for "
                         r"[\d.]+ s$", line) for line in beats), beats


def test_the_interval_is_ten_seconds_unless_the_environment_says_otherwise(monkeypatch):
    monkeypatch.delenv("CRMMIGRATE_PROGRESS_EVERY", raising=False)
    assert progress_every() == PROGRESS_EVERY == 10.0
    monkeypatch.setenv("CRMMIGRATE_PROGRESS_EVERY", "0.5")
    assert progress_every() == 0.5
    for wrong in ("soon", "0", "-1", "nan"):
        monkeypatch.setenv("CRMMIGRATE_PROGRESS_EVERY", wrong)
        assert progress_every() == 10.0


def test_a_finished_bars_clock_stops():
    now = [100.0]
    bars = ProgressBars(console=Console(file=io.StringIO()), get_time=lambda: now[0])
    elapsed = TimeElapsedColumn()
    with bars.bars:
        bars("extract", "accounts", 0, None)  # how many is known only at the end
        now[0] += 5
        bars("extract", "accounts", 150, None)
        now[0] += 7
        bars("extract", "accounts", 150, 150)
        bars("dedupe", "contact: fitting", 0, 5)
        (accounts, fitting) = bars.bars.tasks
        now[0] += 600
        assert str(elapsed.render(accounts)) == "0:00:12"  # stopped when it finished
        assert accounts.elapsed == 12
        assert str(elapsed.render(fitting)) == "0:10:00"  # still going
        bars.close()
        now[0] += 600
        assert fitting.elapsed == 600  # the command ended: every clock stopped


# -- a run as a log sees it ------------------------------------------------------------------------


def test_a_redirected_run_prints_plain_lines_per_stage_in_order(tmp_path):
    project = tmp_path / "project"
    env = {**os.environ, "CRMMIGRATE_PROGRESS_EVERY": "0.05"}
    subprocess.run([sys.executable, "-m", "crmmigrate", "init", str(project)], check=True, capture_output=True,
                   env=env, timeout=120)
    log = tmp_path / "run.log"
    with log.open("w") as stderr:
        done = subprocess.run([sys.executable, "-m", "crmmigrate", "run", "--allow-failing",
                               str(project / "migration.yaml")], stdout=subprocess.PIPE, stderr=stderr,
                              env=env, timeout=600, check=False)
    assert done.returncode == 0, log.read_text(encoding="utf-8")
    text = log.read_text(encoding="utf-8")
    assert "\x1b" not in text and "\r" not in text  # no colour, no bar redrawn in place
    lines = text.splitlines()

    def at(pattern: str) -> int:
        found = [n for n, line in enumerate(lines) if re.fullmatch(r"crmmigrate: \d\d:\d\d:\d\d " + pattern, line)]
        assert found, f"no line {pattern!r} in:\n{text}"
        return found[0]

    order = [
        r"extract accounts: started",
        r"extract accounts: done, 150 in [\d.]+ s",
        r"map accounts: done, 150 in [\d.]+ s",
        r"extract calls: done, 300 in [\d.]+ s",
        r"clean all entities: started, [\d,]+ to do",
        r"clean contact: started, 450 to do",
        r"clean contact: done, 450 in [\d.]+ s",
        r"clean all entities: done, [\d,]+ in [\d.]+ s",
        r"validate all entities: started, [\d,]+ to do",
        r"validate contact: done, 450 in [\d.]+ s",
        r"validate all entities: done, [\d,]+ in [\d.]+ s",
        r"dedupe account, contact: started, 600 to do",
        r"dedupe account: blocking: started, 150 to do",
        r"dedupe contact: comparing pairs: done, [\d,]+ in [\d.]+ s",
        r"dedupe contact: survivors: done, 450 in [\d.]+ s",
        r"dedupe account, contact: done, 600 in [\d.]+ s",
        r"load account: started, [\d,]+ to do",
        r"load activity: done, [\d,]+ in [\d.]+ s",
    ]
    places = [at(pattern) for pattern in order]
    assert places == sorted(places)
    # every item that started has finished, and the summary follows the progress
    started = {line.split(" ", 2)[2].rsplit(": started", 1)[0] for line in lines if re.search(r": started(,|$)", line)}
    ended = {line.split(" ", 2)[2].rsplit(": done, ", 1)[0] for line in lines if ": done, " in line}
    assert started == ended
    assert any("running for" in line for line in lines)  # the interval, from the environment
    assert "ledger: extracted = loaded + merged + rejected + filtered" in done.stdout.decode()


def test_finished_bars_make_room_for_the_ones_going_on_a_short_terminal():
    bars = ProgressBars(console=Console(file=io.StringIO(), height=6))
    with bars.bars:
        bars("dedupe", "account, contact", 0, 600)
        for phase in ("blocking", "comparing pairs", "fitting", "scoring pairs", "clustering", "survivors"):
            bars("dedupe", f"account: {phase}", 0, 10)
            bars("dedupe", f"account: {phase}", 10, 10)
        bars("dedupe", "contact: blocking", 3, 10)
        shown = [t.description for t in bars.bars.tasks if t.visible]
    assert shown == ["dedupe account, contact", "dedupe account: clustering", "dedupe account: survivors",
                     "dedupe contact: blocking"]


class Gone(io.StringIO):
    """A stream whose reader has gone: `crmmigrate run ... 2>&1 | head`."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_log_whose_reader_has_gone_does_not_stop_the_work():
    with ProgressLines(Gone(), every=0.01) as lines:
        lines("clean", "contact", 0, 10)
        time.sleep(0.05)  # the interval's lines fail too, and the thread goes on
        lines("clean", "contact", 10, 10)
        assert lines._beat.is_alive()
