"""Render .env.example from the Settings class, or check that the committed file is current.

python scripts/render_env_example.py          # rewrite .env.example
python scripts/render_env_example.py --check  # exit 1 when it drifts from the settings
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from pydantic import SecretStr

from auth_backend.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / ".env.example"
HEADER = """\
# auth-backend configuration. Copy to .env and uncomment what you change; real environment
# variables win. Every value shown is the default, commented out so that a copied file
# changes nothing, not even the container's own defaults (HOST=0.0.0.0, LOG_FORMAT=json).
# GENERATED from src/auth_backend/settings.py by scripts/render_env_example.py: edit the
# settings class, then run `make env-example`.
"""


def render() -> str:
    blocks = [HEADER]
    for name, field in Settings.model_fields.items():
        comment = textwrap.fill(
            field.description or "", width=94, initial_indent="# ", subsequent_indent="# "
        )
        # Lists (proxies, networks, origins) come from a default factory, written as the
        # comma-separated value the setting reads.
        default = field.get_default(call_default_factory=True)
        if default is None or isinstance(default, SecretStr):
            value = ""
        elif isinstance(default, bool):
            value = str(default).lower()
        elif isinstance(default, list):
            value = ",".join(str(item) for item in default)
        else:
            value = str(default)
        # Commented out: copying the example must not override the image's environment, and
        # an unset optional value must never become an empty string.
        line = f"# {name.upper()}={value}"
        blocks.append(f"{comment}\n{line}\n")
    return "\n".join(blocks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    expected = render()
    if not args.check:
        TARGET.write_text(expected, encoding="utf-8")
        return 0
    if TARGET.exists() and TARGET.read_text(encoding="utf-8") == expected:
        print(".env.example is in sync with the settings")
        return 0
    print(".env.example drifts from the settings: run `make env-example` and commit it")
    return 1


if __name__ == "__main__":
    sys.exit(main())
