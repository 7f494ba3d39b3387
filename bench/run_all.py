"""Run every benchmark in turn (`make bench`); each prints its own Markdown table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
SCRIPTS = ["bench_core.py", "bench_collections.py", "bench_rdb.py", "bench_aof.py", "bench_backup.py"]


def main() -> int:
    failed = 0
    for name in SCRIPTS:
        script = HERE / name
        if not script.exists():
            continue
        print(f"\n## {name}\n", flush=True)
        failed += subprocess.run([sys.executable, str(script), *sys.argv[1:]], cwd=HERE).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
