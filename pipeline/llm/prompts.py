"""LLM prompts as files: one YAML per task in `prompts/` with a version, the system text, a
user template and the JSON schema the reply must match.

The file's bytes are hashed into every cache key the prompt shapes, so editing a prompt
re-runs exactly the calls (and stages) that use it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

import jsonschema
import yaml

from pipeline.core.resources import ResourceError
from pipeline.core.store import file_hash

FIELDS = {"version": (int, str), "task": str, "system": str, "user": str, "schema": dict}


@dataclass(frozen=True)
class PromptFile:
    name: str  # file stem, e.g. llm_plant
    task: str  # what the offline test server answers: script, plant, question, ...
    version: str
    system: str
    user: str
    schema: dict[str, Any]
    digest: str  # sha256 of the file's bytes
    path: str = ""  # where it was read, for messages

    def check_slots(self, variables: set[str]) -> None:
        """Fail now, naming the file, if the 'user' template is broken or uses a slot the
        caller never gives (`$data` is always given)."""
        where = self.path or f"{self.name}.yaml"
        template = Template(self.user)
        if not template.is_valid():
            raise ResourceError(f"{where}: 'user' template is broken (a '$' that starts no "
                                f"$name slot; write $$ for a dollar sign)")
        unknown = sorted(set(template.get_identifiers()) - variables - {"data"})
        if unknown:
            raise ResourceError(f"{where}: 'user' template uses unknown slots {unknown}; "
                                f"known: {sorted(variables | {'data'})}")

    def render(self, variables: dict[str, Any]) -> list[dict[str, str]]:
        """System and user messages; `$data` is every variable as one JSON block."""
        values = {k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                  for k, v in variables.items()}
        values["data"] = json.dumps({"task": self.task, **variables}, ensure_ascii=False,
                                    sort_keys=True)
        try:
            user = Template(self.user).substitute(values)
        except (KeyError, ValueError) as exc:
            raise ResourceError(f"{self.path or self.name + '.yaml'}: 'user' template needs "
                                f"{exc}, given {sorted(values)}") from None
        return [{"role": "system", "content": self.system.strip()},
                {"role": "user", "content": user.strip()}]


def load_prompt(prompts_dir: str | Path, name: str) -> PromptFile:
    path = Path(prompts_dir) / f"{name}.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResourceError(f"{path}: prompt file not found") from None
    except yaml.YAMLError as exc:
        raise ResourceError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ResourceError(f"{path}: expected a mapping with keys {sorted(FIELDS)}")
    for key, tp in FIELDS.items():
        if not isinstance(data.get(key), tp):
            raise ResourceError(f"{path}: '{key}' is missing or not a {tp}")
    try:
        jsonschema.Draft202012Validator.check_schema(data["schema"])
    except jsonschema.SchemaError as exc:
        raise ResourceError(f"{path}: 'schema' is not a valid JSON schema: {exc.message}") \
            from None
    return PromptFile(name=name, task=data["task"], version=str(data["version"]),
                      system=data["system"], user=data["user"], schema=data["schema"],
                      digest=file_hash(path), path=str(path))


def schema_error(schema: dict[str, Any], data: Any) -> str:
    """The first schema violation, as one line a model can act on; '' when valid."""
    err = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(data))
    if err is None:
        return ""
    where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
    return f"schema violation at {where}: {err.message}"
