"""What does poll amplification cost a correct program? Grade with it on and off, alternately.

Poll amplification (docs/trace.md) holds a queue or pipe item until a taker asks for it. A
correct consumer waits in get()/recv(), so nothing should be held; this bench grades the
reference solution and the correct variants of bounded_queue and pipe_echo ``--repeats``
times each with the exercise as shipped (amplify = true) and with a copy whose
``amplify`` is false, interleaved so both see the same load, and prints the median
grading time of each and their ratio (on / off). Verdicts must be the same both ways.

Usage: ``python bench/bench_poll_amplify.py [--repeats 10]``
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from ipcgrader.loader import load_exercise
from ipcgrader.plugins import get_plugin_manager
from ipcgrader.session import Options, grade

ROOT = Path(__file__).resolve().parents[1]
CORRECT = {
    "bounded_queue": ["correct_iter_sentinel", "correct_timeout_retry"],
    "pipe_echo": ["correct_context"],
}


def _unamplified(exercise: str, into: Path) -> Path:
    folder = into / exercise
    shutil.copytree(ROOT / "exercises" / exercise, folder)
    toml = folder / "exercise.toml"
    text = toml.read_text(encoding="utf-8")
    if "amplify = true" not in text:
        sys.exit(f"{exercise}: exercise.toml does not amplify")
    toml.write_text(text.replace("amplify = true", "amplify = false"), encoding="utf-8")
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    pm = get_plugin_manager(autoload=False)
    differ = False
    print(f"{'exercise/variant':<40} {'on s':>7} {'off s':>7} {'on/off':>7}")
    with tempfile.TemporaryDirectory() as temporary:
        for exercise, names in CORRECT.items():
            shipped = load_exercise(ROOT / "exercises" / exercise, pm)
            plain = load_exercise(_unamplified(exercise, Path(temporary)), pm)
            paths = [("(solution)", ROOT / "solutions" / exercise)]
            paths += [(n, ROOT / "tests" / "submissions" / exercise / f"{n}.py") for n in names]
            for name, path in paths:
                seconds: dict[bool, list[float]] = {True: [], False: []}
                verdicts: set[tuple[bool, str]] = set()
                for _ in range(args.repeats):
                    for amplified, loaded in ((True, shipped), (False, plain)):
                        began = time.monotonic()
                        result = grade(loaded, path, get_plugin_manager(autoload=False), Options())
                        seconds[amplified].append(time.monotonic() - began)
                        verdicts.add((amplified, result.status.value))
                on, off = statistics.median(seconds[True]), statistics.median(seconds[False])
                print(f"{exercise + '/' + name:<40} {on:>7.2f} {off:>7.2f} {on / off:>7.2f}")
                differ = differ or len({status for _, status in verdicts}) > 1
    if differ:
        print("verdicts differ with and without amplification")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
