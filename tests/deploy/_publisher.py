"""A publisher run as a child process by the crash and concurrency tests (not a test module).

usage: python _publisher.py STORE_ROOT JSON_OPTIONS
options: files, size, seed (payload); keep; lock_timeout; loop (publish forever);
kill_at (SIGKILL itself at checkpoint k); pause_at + marker + release (hold at a named step).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from appkit.deploy import store as store_module
from appkit.deploy.store import StoreError, VersionStore


def payload(files: int, size: int, seed: int) -> dict[str, bytes]:
    # Deterministic bytes, made fast (no numpy: the child must start quickly), different per seed.
    cycle = bytes(range(251)) * (size // 251 + 2)
    return {f"constants/c{i:03d}.bin": cycle[(seed * 31 + i) % 251:][:size]
            for i in range(files)} | {"schemas/a.sd": f"schema a {{ }} # {seed}\n".encode()}


def main() -> int:
    root, options = sys.argv[1], json.loads(sys.argv[2])
    steps: list[str] = []

    def hook(step: str) -> None:
        steps.append(step)
        if options.get("kill_at") == len(steps):
            os.kill(os.getpid(), signal.SIGKILL)
        if options.get("pause_at") == step:
            Path(options["marker"]).write_text(str(os.getpid()))
            deadline = time.monotonic() + 20
            while not Path(options["release"]).exists() and time.monotonic() < deadline:
                time.sleep(0.01)

    store_module.CHECKPOINT_HOOK = hook
    store = VersionStore(root, lock_timeout=options.get("lock_timeout", 30.0))
    seed = options.get("seed", 0)
    try:
        while True:
            version = store.publish(payload(options.get("files", 3), options.get("size", 100), seed),
                                    {"models": ["m"]}, keep=options.get("keep"))
            print(version, flush=True)
            if options.get("count_steps"):
                print(f"STEPS {len(steps)}", flush=True)
            if not options.get("loop"):
                return 0
            seed += 1
    except StoreError as e:
        print(f"ERROR {e.code} {e}", flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
