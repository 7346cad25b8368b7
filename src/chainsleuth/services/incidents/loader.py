"""Reading incident YAML files: one incident per `*.yaml` file, its `id` equal to the file name.

Every problem names the file and the field (`DIR/x.yaml: victim.country: 'XX' is not …`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from chainsleuth.errors import InputError
from chainsleuth.services.incidents.model import Incident

_LEADING_FIELD = re.compile(r"^(\[\d+\]|[a-z_]+): ")


@dataclass(frozen=True)
class Problem:
    """One validation problem: file, field path, message."""

    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}"


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


def _problems(file: str, error: ValidationError) -> list[Problem]:
    found = []
    for item in error.errors():
        field = _field_path(tuple(item["loc"]))
        message = str(item["msg"]).removeprefix("Value error, ")
        # validators that check several fields put the precise one first: "asset: …", "[2] …"
        match = _LEADING_FIELD.match(message)
        if match:
            token = match.group(1)
            field = f"{field}{token}" if token.startswith("[") else f"{field}.{token}"
            field = field.lstrip(".")
            message = message[match.end() :]
        found.append(Problem(file, field or "(record)", message))
    return found


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(yaml)"
        raise InputError(f"{path}: {where}: not valid YAML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None


def check_file(path: Path) -> tuple[Incident | None, list[Problem]]:
    """Parse and validate one file: the incident, or None and its problems."""
    try:
        data = _read_yaml(path)
    except InputError as exc:
        return None, [Problem(str(path), "(file)", str(exc).split(": ", 2)[-1])]
    if not isinstance(data, dict):
        return None, [Problem(str(path), "(file)", "expected a mapping of incident fields")]
    try:
        incident = Incident.model_validate(data)
    except ValidationError as exc:
        return None, _problems(str(path), exc)
    if incident.id != path.stem:
        return None, [Problem(str(path), "id", f"{incident.id!r} differs from the file name")]
    return incident, []


def incident_files(directory: Path) -> list[Path]:
    """The `*.yaml` files of `directory`, sorted; an error if it is not a directory."""
    if not directory.is_dir():
        raise InputError(f"{directory}: not a directory of incident files")
    return sorted(directory.glob("*.yaml"))


def check_dir(directory: Path) -> tuple[list[Incident], list[Problem]]:
    """Every incident of `directory` and every problem found, including duplicate ids."""
    incidents: list[Incident] = []
    problems: list[Problem] = []
    for path in incident_files(directory):
        incident, found = check_file(path)
        problems.extend(found)
        if incident is not None:
            incidents.append(incident)
    return incidents, problems


def load_dir(directory: Path) -> list[Incident]:
    """The incidents of `directory`; InputError naming the first problem if any."""
    incidents, problems = check_dir(directory)
    if problems:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise InputError(f"{problems[0]}{more}")
    if not incidents:
        raise InputError(f"{directory}: no *.yaml incident files")
    return incidents


@contextmanager
def packaged_dir() -> Iterator[Path]:
    """The directory of the incident database shipped in the package."""
    with resources.as_file(resources.files("chainsleuth") / "data" / "incidents") as path:
        yield Path(path)


def load_packaged() -> list[Incident]:
    """The curated incident database shipped with chainsleuth."""
    with packaged_dir() as directory:
        return load_dir(directory)
