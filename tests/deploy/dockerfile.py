"""Just enough of Docker's build semantics to read our Dockerfile and .dockerignore, and to
replay the image's steps on this machine without Docker.

Supported: FROM, ARG, ENV, WORKDIR, COPY (from the context or `--from` an earlier stage),
RUN (shell form), USER, EXPOSE, HEALTHCHECK, STOPSIGNAL, CMD. Anything else fails loudly, so
a new kind of step cannot be skipped silently by the replay.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

KNOWN = {"FROM", "ARG", "ENV", "WORKDIR", "COPY", "RUN", "USER", "EXPOSE", "HEALTHCHECK"}
KNOWN |= {"STOPSIGNAL", "CMD"}
_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str

    def exec_form(self) -> list[str] | None:
        text = self.arguments.strip()
        return list(json.loads(text)) if text.startswith("[") else None


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse(path: Path) -> list[Stage]:
    """Stages with their instructions; continuation lines joined, comments dropped."""
    logical: list[str] = []
    current = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or (not stripped and not current):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    stages: list[Stage] = []
    for text in logical:
        keyword, _, arguments = text.partition(" ")
        keyword = keyword.upper()
        if keyword not in KNOWN:
            raise AssertionError(f"the replay does not know {keyword}: teach tests/deploy")
        if keyword == "FROM":
            parts = arguments.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base=parts[0], name=name))
        elif stages:
            stages[-1].instructions.append(Instruction(keyword, arguments.strip()))
    return stages


def substitute(text: str, variables: dict[str, str]) -> str:
    return _VARIABLE.sub(lambda m: variables.get(m.group(1) or m.group(2), ""), text)


def key_values(arguments: str, variables: dict[str, str]) -> dict[str, str]:
    """`ENV A=1 B="two words"` as a dict, with $VARIABLES from before the line expanded."""
    pairs: dict[str, str] = {}
    for token in shlex.split(arguments):
        name, _, value = token.partition("=")
        pairs[name] = substitute(value, variables)
    return pairs


# --- .dockerignore ---------------------------------------------------------------------------


@dataclass(frozen=True)
class IgnoreRule:
    pattern: re.Pattern[str]
    include: bool


def _translate(pattern: str) -> re.Pattern[str]:
    regex = ""
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            regex += "(?:.*/)?"
            index += 3
        elif pattern.startswith("**", index):
            regex += ".*"
            index += 2
        elif pattern[index] == "*":
            regex += "[^/]*"
            index += 1
        elif pattern[index] == "?":
            regex += "[^/]"
            index += 1
        elif pattern[index] == "[":
            end = pattern.index("]", index)
            regex += pattern[index : end + 1]
            index = end + 1
        else:
            regex += re.escape(pattern[index])
            index += 1
    return re.compile(f"^{regex}$")


def ignore_rules(path: Path) -> list[IgnoreRule]:
    rules: list[IgnoreRule] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        include = text.startswith("!")
        cleaned = text.removeprefix("!").strip().strip("/")
        rules.append(IgnoreRule(_translate(cleaned), include))
    return rules


def in_context(relative: str, rules: Iterable[IgnoreRule]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = relative.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    kept = True
    for rule in rules:
        if any(rule.pattern.match(candidate) for candidate in candidates):
            kept = rule.include
    return kept


# --- replay ----------------------------------------------------------------------------------


@dataclass
class Image:
    """What the final stage leaves: its environment, working directory and commands."""

    env: dict[str, str]
    workdir: Path
    user: str
    exposed: list[str]
    cmd: list[str]
    healthcheck: list[str]


class Replay:
    """Runs the build stages in `root` (standing in for the image's filesystem).

    Absolute paths of WORKDIR, COPY and ARG defaults are moved under `root`; RUN commands
    get them through the environment, as in the Dockerfile. RUN steps of the final stage
    (creating the user and the data directory) need root and are the only ones not run.
    """

    def __init__(self, context: Path, root: Path, base_env: dict[str, str]) -> None:
        self.context = context
        self.root = root
        self.base_env = base_env
        self.rules = ignore_rules(context / ".dockerignore")
        self.log: list[str] = []

    def place(self, path: str) -> Path:
        if not path.startswith("/") or Path(path).is_relative_to(self.root):
            return Path(path)
        return self.root / path.lstrip("/")

    def run(self, stages: list[Stage]) -> Image:
        image: Image | None = None
        for number, stage in enumerate(stages):
            image = self._stage(stage, final=number == len(stages) - 1)
        assert image is not None
        return image

    def _stage(self, stage: Stage, *, final: bool) -> Image:
        env = dict(self.base_env)
        variables = dict(env)
        workdir = self.root
        image = Image(env, workdir, "root", [], [], [])
        for instruction in stage.instructions:
            keyword, arguments = instruction.keyword, instruction.arguments
            if keyword == "ARG":
                name, _, default = arguments.partition("=")
                value = str(self.place(default)) if default.startswith("/") else default
                variables[name] = value
            elif keyword == "ENV":
                values = key_values(arguments, variables)
                env.update(values)
                variables.update(values)
            elif keyword == "WORKDIR":
                workdir = self.place(substitute(arguments, variables))
                workdir.mkdir(parents=True, exist_ok=True)
            elif keyword == "COPY":
                self._copy(substitute(arguments, variables), workdir)
            elif keyword == "RUN" and not final:
                self._run(arguments, workdir, {**variables, **env})
            elif keyword == "USER":
                image.user = substitute(arguments, variables)
            elif keyword == "EXPOSE":
                image.exposed = arguments.split()
            elif keyword == "CMD":
                image.cmd = instruction.exec_form() or ["/bin/sh", "-c", arguments]
            elif keyword == "HEALTHCHECK":
                _, _, command = arguments.partition("CMD ")
                image.healthcheck = json.loads(command)
        image.env, image.workdir = env, workdir
        return image

    def _copy(self, arguments: str, workdir: Path) -> None:
        tokens = arguments.split()
        options = [t for t in tokens if t.startswith("--")]
        *sources, destination = [t for t in tokens if not t.startswith("--")]
        target = self.place(destination)
        target = target if target.is_absolute() else workdir / target
        if any(option.startswith("--from=") for option in options):
            # Stages share `root` here, so copying a path onto itself is all there is.
            for source in sources:
                assert self.place(source) == target, "the replay copies a stage path onto itself"
            return
        for source in sources:
            self._copy_from_context(source, target, into_directory=destination.endswith("/"))

    def _copy_from_context(self, source: str, target: Path, *, into_directory: bool) -> None:
        origin = self.context / source
        if origin.is_file():
            if not in_context(source, self.rules):
                raise AssertionError(f"COPY {source}: excluded by .dockerignore")
            destination = target / origin.name if into_directory else target
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, destination)
            return
        copied = 0
        for file in sorted(origin.rglob("*")):
            relative = file.relative_to(self.context).as_posix()
            if file.is_file() and in_context(relative, self.rules):
                destination = target / file.relative_to(origin)
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, destination)
                copied += 1
        if not copied:
            raise AssertionError(f"COPY {source}: nothing in the build context")

    def _run(self, command: str, workdir: Path, env: dict[str, str]) -> None:
        # A literal absolute path would escape `root` and touch this machine's filesystem.
        if re.search(r"(^|[\s\"'=])/", command):
            raise AssertionError(f"RUN uses a literal absolute path; use an ARG: {command}")
        result = subprocess.run(
            ["/bin/sh", "-c", command],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        self.log.append(f"$ {command}\n{result.stdout}{result.stderr}")
        if result.returncode != 0:
            raise AssertionError("\n".join(self.log))
