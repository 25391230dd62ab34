"""The machine's password-hashing ceiling, measured with the service's own Argon2id settings.

Prints JSON: the CPU time of one verification (one thread, `time.thread_time`), the ceiling
`cores / cpu_seconds` in verifications per second, and, because CPU time does not see other
work on a shared machine, what `cores` threads verifying flat out achieve by the wall clock.
Run with the project's interpreter: python -m bench.hashing [--seconds S] [--memory-mib M]
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time

from pwdlib.hashers.argon2 import Argon2Hasher

from auth_backend.security.passwords import (
    DEFAULT_ARGON2_MEMORY_MIB,
    OWASP_ARGON2_PARALLELISM,
    OWASP_ARGON2_PASSES_BY_MEMORY_MIB,
)

PASSWORD = "correct horse battery staple"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument(
        "--memory-mib",
        type=int,
        default=DEFAULT_ARGON2_MEMORY_MIB,
        choices=sorted(OWASP_ARGON2_PASSES_BY_MEMORY_MIB),
        help="the service's ARGON2_MEMORY_MIB",
    )
    args = parser.parse_args()
    time_cost = OWASP_ARGON2_PASSES_BY_MEMORY_MIB[args.memory_mib]
    memory_kib = args.memory_mib * 1024
    hasher = Argon2Hasher(
        time_cost=time_cost, memory_cost=memory_kib, parallelism=OWASP_ARGON2_PARALLELISM
    )
    stored = hasher.hash(PASSWORD)
    hasher.verify(PASSWORD, stored)  # warm: the first call allocates

    cpu_samples: list[float] = []
    deadline = time.monotonic() + args.seconds / 2
    while time.monotonic() < deadline or len(cpu_samples) < 3:
        before = time.thread_time()
        assert hasher.verify(PASSWORD, stored)
        cpu_samples.append(time.thread_time() - before)
    cpu_samples.sort()
    cpu_seconds = cpu_samples[len(cpu_samples) // 2]
    cores = os.cpu_count() or 1

    counts = [0] * cores
    stop = time.monotonic() + args.seconds / 2

    def verify_flat_out(slot: int) -> None:
        while time.monotonic() < stop:
            hasher.verify(PASSWORD, stored)
            counts[slot] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=verify_flat_out, args=(i,)) for i in range(cores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started

    print(
        json.dumps(
            {
                "cores": cores,
                "verify_cpu_ms": round(cpu_seconds * 1000, 2),
                "samples": len(cpu_samples),
                "ceiling_per_s": round(cores / cpu_seconds, 1),
                "achieved_threads_per_s": round(sum(counts) / wall, 1),
                "parameters": {
                    "time_cost": time_cost,
                    "memory_kib": memory_kib,
                    "parallelism": OWASP_ARGON2_PARALLELISM,
                },
            }
        )
    )


if __name__ == "__main__":
    main()
