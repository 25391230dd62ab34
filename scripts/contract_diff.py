"""Compare the contract with its previous version and hold `info.version` to semver.

    python scripts/contract_diff.py                # `make contract-diff`: report
    python scripts/contract_diff.py --check        # `make test`: fail on an unversioned break
    python scripts/contract_diff.py --base v1.2.0  # against any git ref

The previous version is the contract at the newest release tag (`v*`) reachable from HEAD;
without one, the contract before its latest change (the parent of the last first-parent
commit that touched it, or HEAD itself while the file has uncommitted edits). Breaking
changes are found by openapi-diff (npm, pinned in tools/package.json).

Rules (semver; while the major version is 0, the minor version plays its part, as npm and
Cargo read 0.x): a breaking change needs a major bump (0.x: a minor bump), any other change
to the contract needs at least a patch bump, and the version never goes backwards.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
SPEC = Path("openapi") / "openapi.yaml"
OPENAPI_DIFF = ROOT / "tools" / "node_modules" / ".bin" / "openapi-diff"
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+\S+)?$")


@dataclass(frozen=True)
class Base:
    ref: str
    spec: dict[str, Any]


@dataclass(frozen=True)
class Verdict:
    ok: bool
    lines: list[str]


def _git(*args: str) -> str:
    return subprocess.run(  # noqa: S603 - git with fixed arguments
        ["git", *args],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def _spec_at(ref: str) -> dict[str, Any] | None:
    try:
        text = _git("show", f"{ref}:{SPEC.as_posix()}")
    except subprocess.CalledProcessError:
        return None
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def find_base(explicit: str | None = None) -> Base | None:
    if explicit:
        spec = _spec_at(explicit)
        if spec is None:
            raise SystemExit(f"{explicit} has no {SPEC}")
        return Base(explicit, spec)
    try:
        tag = _git("describe", "--tags", "--abbrev=0", "--match", "v[0-9]*", "HEAD")
    except subprocess.CalledProcessError:
        tag = ""
    if tag and (spec := _spec_at(tag)) is not None:
        return Base(tag, spec)
    if _git("status", "--porcelain", "--", SPEC.as_posix()):
        head = _spec_at("HEAD")
        return Base("HEAD", head) if head is not None else None
    last_change = _git("log", "-1", "--first-parent", "--format=%H", "--", SPEC.as_posix())
    if not last_change:
        return None
    parent = f"{last_change}^"
    spec = _spec_at(parent)
    return Base(f"{last_change[:12]}^", spec) if spec is not None else None


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """openapi-diff's breaking differences, one line each."""
    if not OPENAPI_DIFF.exists():
        raise SystemExit(f"{OPENAPI_DIFF} is missing: run `make node-tools`")
    with tempfile.TemporaryDirectory() as scratch:
        old_path, new_path = Path(scratch) / "old.json", Path(scratch) / "new.json"
        old_path.write_text(json.dumps(old), encoding="utf-8")
        new_path.write_text(json.dumps(new), encoding="utf-8")
        report_path = Path(scratch) / "report.txt"
        # To a file, not a pipe: Node exits before flushing more than 64 KiB into a pipe,
        # which cuts a large report off mid-JSON.
        with report_path.open("w", encoding="utf-8") as report_file:
            result = subprocess.run(  # noqa: S603 - the pinned openapi-diff
                [str(OPENAPI_DIFF), str(old_path), str(new_path)],
                stdout=report_file,
                stderr=subprocess.PIPE,
                text=True,
                check=False,
            )
        output = report_path.read_text(encoding="utf-8")
    if result.returncode == 0 and "{" not in output:
        return []  # "No changes found between the two specifications"
    if "{" not in output:
        raise SystemExit(f"openapi-diff failed ({result.returncode}):\n{output}{result.stderr}")
    report = json.loads(output[output.index("{") :])
    lines = []
    for difference in report.get("breakingDifferences") or []:
        details = difference.get("sourceSpecEntityDetails") or []
        details = details or difference.get("destinationSpecEntityDetails") or []
        where = ", ".join(detail["location"] for detail in details) or "?"
        lines.append(f"{difference['code']} at {where}")
    return lines


def _version(spec: dict[str, Any]) -> tuple[int, int, int]:
    raw = str(spec.get("info", {}).get("version", ""))
    match = _SEMVER.match(raw)
    if match is None:
        raise SystemExit(f"info.version {raw!r} is not a semantic version")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def is_breaking_bump(old: tuple[int, int, int], new: tuple[int, int, int]) -> bool:
    if new[0] != old[0]:
        return new[0] > old[0]
    # 0.x: anything may change, and the minor version carries the breaks.
    return old[0] == 0 and new[1] > old[1]


def judge(base: Base, new: dict[str, Any], breaks: list[str]) -> Verdict:
    old_version, new_version = _version(base.spec), _version(new)
    shown = ".".join(map(str, old_version)), ".".join(map(str, new_version))
    lines = [f"contract {shown[1]} compared with {base.ref} ({shown[0]})"]
    if new_version < old_version:
        return Verdict(False, [*lines, "info.version went backwards"])

    def without_version(spec: dict[str, Any]) -> dict[str, Any]:
        info = {k: v for k, v in spec.get("info", {}).items() if k != "version"}
        return {**spec, "info": info}

    changed = without_version(base.spec) != without_version(new)
    if breaks:
        lines += ["breaking changes:", *(f"  - {line}" for line in breaks)]
        if not is_breaking_bump(old_version, new_version):
            needed = "a minor bump while on 0.x" if old_version[0] == 0 else "a major bump"
            return Verdict(False, [*lines, f"breaking changes need {needed}"])
        return Verdict(True, [*lines, "the version bump announces them"])
    if changed and new_version == old_version:
        return Verdict(False, [*lines, "the contract changed: bump info.version (patch at least)"])
    return Verdict(True, [*lines, "no breaking changes" if changed else "no changes"])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when the rules are broken")
    parser.add_argument("--base", help="git ref to compare with (default: see above)")
    args = parser.parse_args()
    new: dict[str, Any] = yaml.safe_load((ROOT / SPEC).read_text(encoding="utf-8"))
    _version(new)
    base = find_base(args.base)
    if base is None:
        print("no earlier contract to compare with")
        return 0
    verdict = judge(base, new, breaking_changes(base.spec, new))
    print("\n".join(verdict.lines))
    return 0 if verdict.ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
