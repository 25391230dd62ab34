"""Copy the Swagger UI and ReDoc assets from the pinned npm packages into the service package.

    python scripts/vendor_docs_assets.py          # `make docs-assets`: refresh the copies
    python scripts/vendor_docs_assets.py --check  # fail when they differ from the packages

/docs and /redoc load these from the service itself (/docs/static/...), never from a CDN, so
the documentation pages work air-gapped. The copies are committed inside
src/auth_backend/docs_static/ so that every wheel and container image carries them without
Node; tools/package-lock.json pins where they come from and --check keeps them identical.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = ROOT / "tools" / "node_modules"
TARGET = ROOT / "src" / "auth_backend" / "docs_static"
MANIFEST = "SOURCES.json"
# Served name -> (npm package, path inside it).
ASSETS = {
    "swagger-ui-bundle.js": ("swagger-ui-dist", "swagger-ui-bundle.js"),
    "swagger-ui.css": ("swagger-ui-dist", "swagger-ui.css"),
    "favicon-32x32.png": ("swagger-ui-dist", "favicon-32x32.png"),
    "swagger-ui.LICENSE": ("swagger-ui-dist", "LICENSE"),
    "swagger-ui.NOTICE": ("swagger-ui-dist", "NOTICE"),
    "swagger-ui-bundle.js.LICENSE.txt": ("swagger-ui-dist", "swagger-ui-bundle.js.LICENSE.txt"),
    "redoc.standalone.js": ("redoc", "bundles/redoc.standalone.js"),
    "redoc.standalone.js.LICENSE.txt": ("redoc", "bundles/redoc.standalone.js.LICENSE.txt"),
    "redoc.LICENSE": ("redoc", "LICENSE"),
}


def _package_version(package: str) -> str:
    metadata = json.loads((NODE_MODULES / package / "package.json").read_text(encoding="utf-8"))
    return str(metadata["version"])


def expected_files() -> dict[str, bytes]:
    if not NODE_MODULES.is_dir():
        raise SystemExit(f"{NODE_MODULES} is missing: run `make node-tools` first")
    files = {name: (NODE_MODULES / pkg / path).read_bytes() for name, (pkg, path) in ASSETS.items()}
    sources = {
        name: f"{pkg}@{_package_version(pkg)}/{path}" for name, (pkg, path) in ASSETS.items()
    }
    files[MANIFEST] = (json.dumps(sources, indent=2, sort_keys=True) + "\n").encode()
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the copies drift")
    args = parser.parse_args()
    expected = expected_files()
    if args.check:
        present = {p.name for p in TARGET.iterdir()} if TARGET.is_dir() else set()
        stale = sorted(present - set(expected))
        differ = sorted(
            name
            for name, content in expected.items()
            if not (TARGET / name).is_file() or (TARGET / name).read_bytes() != content
        )
        if stale or differ:
            print(
                f"docs assets drift (differ: {differ}, unexpected: {stale}): run make docs-assets"
            )
            return 1
        print("docs assets match tools/package-lock.json")
        return 0
    TARGET.mkdir(parents=True, exist_ok=True)
    for existing in TARGET.iterdir():
        if existing.name not in expected:
            existing.unlink()
    for name, content in expected.items():
        (TARGET / name).write_bytes(content)
    print(f"wrote {len(expected)} files to {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
