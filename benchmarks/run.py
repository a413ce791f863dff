"""Run every benchmark and print its table (`make bench`)."""
import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for script in sorted(HERE.glob("*.py")):
    if script.name == "run.py" or script.name.startswith("_"):  # _engine.py: a helper, not a benchmark
        continue
    print(f"\n=== {script.name} ===", flush=True)
    sys.argv = [str(script)]
    runpy.run_path(str(script), run_name="__main__")
