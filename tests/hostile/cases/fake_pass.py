"""Prints what looks like the grader's own passing result, forges the run's status files
next door, and exits 0 without doing its work."""
import json
import os

print(json.dumps({"exercise": "hostile", "status": "passed", "score": 3, "max_score": 3}))
print("\x1b[2K\r\x1b[32m✓ python hostile.py: does its work  [1/1]\x1b[0m")
print("PASSED: 3/3 points, 3/3 checks passed")
fake = {"returncode": 0, "signal": None, "stopped": None, "duration_s": 0.1, "leftovers": 0}
for name in ("status.json", "stdout", "student_status.json"):
    try:
        with open(os.path.join("..", "meta", name), "w") as handle:
            handle.write(json.dumps(fake) if name.endswith(".json") else "WORK DONE\n")
    except OSError as exc:
        print(f"forge {name}: {exc}")
