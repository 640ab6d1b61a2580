"""What `docker build` would do with this repository, without a Docker engine: the
Dockerfile's instructions, the build context as `.dockerignore` filters it, and the
source tree its COPY instructions assemble. Only the forms Segue's Dockerfile uses are
understood; anything else is reported as unsupported rather than guessed at."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


class UnsupportedDockerfile(ValueError):
    """The Dockerfile uses a form these checks do not model."""


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    arguments: str  # the text after the keyword, continuation lines joined
    workdir: str  # the WORKDIR in force when the instruction runs


def parse_dockerfile(text: str) -> list[Instruction]:
    """The instructions in order, with comments dropped and `\\` continuations joined."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    if pending.strip():
        logical.append(pending)
    instructions = []
    workdir = "/"
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        keyword = keyword.upper()
        arguments = " ".join(arguments.split()) if keyword != "RUN" else arguments.strip()
        if keyword == "WORKDIR":
            workdir = str(PurePosixPath(workdir, arguments))
        instructions.append(Instruction(keyword, arguments, workdir))
    return instructions


def exec_form(arguments: str) -> list[str] | None:
    """The JSON array of an exec-form CMD/ENTRYPOINT, or None for the shell form."""
    if not arguments.startswith("["):
        return None
    value = json.loads(arguments)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise UnsupportedDockerfile(f"not an exec form: {arguments}")
    return value


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A `.dockerignore` pattern as a regex over slash-separated relative paths
    (Go filepath.Match plus `**`, as Docker's pattern matcher reads them)."""
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**/", index):
            parts.append("(?:.*/)?")
            index += 3
        elif pattern.startswith("**", index):
            parts.append(".*")
            index += 2
        elif char == "*":
            parts.append("[^/]*")
            index += 1
        elif char == "?":
            parts.append("[^/]")
            index += 1
        elif char == "[":
            end = pattern.index("]", index)
            parts.append(pattern[index : end + 1])  # Go's [^...] reads the same in re
            index = end + 1
        else:
            parts.append(re.escape(char))
            index += 1
    return re.compile("".join(parts))


@dataclass(frozen=True)
class DockerIgnore:
    rules: tuple[tuple[bool, re.Pattern[str]], ...]  # (is_exception, pattern), in order

    @classmethod
    def read(cls, path: Path) -> DockerIgnore:
        rules = []
        if path.is_file():
            for raw in path.read_text(encoding="utf-8").splitlines():
                line = raw.strip()
                if not line or line.startswith("#"):
                    continue
                exception = line.startswith("!")
                pattern = line[1:].strip() if exception else line
                pattern = str(PurePosixPath("/", pattern))[1:]  # clean, drop leading "/"
                rules.append((exception, _pattern_regex(pattern)))
        return cls(tuple(rules))

    def excludes(self, relative: str) -> bool:
        """Whether the context leaves out this path (a match on it or on a parent
        directory excludes it; later rules win, `!` rules re-include)."""
        parts = relative.split("/")
        candidates = ["/".join(parts[: count + 1]) for count in range(len(parts))]
        excluded = False
        for exception, regex in self.rules:
            if any(regex.fullmatch(candidate) for candidate in candidates):
                excluded = not exception
        return excluded


def context_files(root: Path, ignore: DockerIgnore) -> list[str]:
    """Every file the build context sends, as a relative path."""
    files = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_file() and not ignore.excludes(relative):
            files.append(relative)
    return files


def assemble_copies(
    instructions: list[Instruction], root: Path, ignore: DockerIgnore, image_root: Path
) -> None:
    """Carry out the COPY instructions (from the build context) into `image_root`, a
    directory standing for the image's `/`."""
    sent = set(context_files(root, ignore))
    for instruction in instructions:
        if instruction.keyword == "ADD":
            raise UnsupportedDockerfile("ADD is not modelled; use COPY")
        if instruction.keyword != "COPY":
            continue
        words = shlex.split(instruction.arguments)
        flags = [word for word in words if word.startswith("--")]
        if any(flag.startswith("--from") for flag in flags):
            raise UnsupportedDockerfile(f"multi-stage COPY is not modelled: {instruction}")
        *sources, destination = [word for word in words if not word.startswith("--")]
        target = PurePosixPath(instruction.workdir, destination)
        into_directory = destination.endswith("/") or len(sources) > 1
        for source in sources:
            source_relative = str(PurePosixPath("/", source))[1:]
            under = [
                name
                for name in sent
                if source_relative in ("", ".")
                or name == source_relative
                or name.startswith(source_relative + "/")
            ]
            if not under:
                raise FileNotFoundError(f"COPY {source}: not in the build context")
            for name in under:
                if name == source_relative:  # a single file
                    place = target / PurePosixPath(name).name if into_directory else target
                else:
                    inner = (
                        name if source_relative in ("", ".") else name[len(source_relative) + 1 :]
                    )
                    place = target / inner
                destination_path = image_root / str(place).lstrip("/")
                destination_path.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(root / name, destination_path)
