"""The loss catalogue on the command line: ``losscli list`` (a table, or JSON) and ``losscli
describe`` (formula, parameters, shapes, an example). rich is imported only to print."""

from __future__ import annotations

from typing import Any

from losscli.cli.tables import table
from losscli.losses.classes import LOSSES, identifiers_of, spell_value


def loss_catalogue() -> list[dict[str, Any]]:
    """Every loss: canonical name, class, identifiers, parameters with defaults, description."""
    return [
        {
            "name": name,
            "class_name": cls.__name__,
            "identifiers": identifiers_of(name),
            "parameters": cls.defaults(),
            "description": cls.description(),
        }
        for name, cls in LOSSES.items()
    ]


def list_table(width: int | None = None) -> Any:
    header = ["loss", "class", "also accepted", "parameters", "description"]
    rows = []
    for entry in loss_catalogue():
        others = [i for i in entry["identifiers"] if i not in (entry["name"], entry["class_name"])]
        params = ", ".join(f"{k}={spell_value(v)}" for k, v in entry["parameters"].items())
        rows.append(
            [entry["name"], entry["class_name"], ", ".join(others), params, entry["description"]]
        )
    return table(header, rows, width)


def render_list_json() -> str:
    import json

    return json.dumps(loss_catalogue(), indent=2)


# --- describe ---------------------------------------------------------------------------


def example_command(name: str) -> str:
    cls = LOSSES[name]
    spec = name
    params = cls.defaults()
    if params:
        key, value = next(iter(params.items()))
        spec = f'"{name}({key}={spell_value(value)})"'
    return f"losscli eval {spec} {cls.example}"


def describe_facts(name: str) -> dict[str, Any]:
    """What ``describe`` says, as data: the names, formula, parameters with their defaults
    (as ``list -f json`` has them) and types, the input shapes and the example."""
    cls = LOSSES[name]
    return {
        "name": name,
        "class_name": cls.__name__,
        "description": cls.description(),
        "formula": cls.formula().replace("``", ""),
        "parameters": cls.defaults(),  # as in ``list -f json``
        "parameter_types": {key: str(p.annotation) for key, p in cls.parameters().items()},
        "inputs": cls.shapes,
        "identifiers": identifiers_of(name),
        "example": example_command(name),
    }


def render_describe_json(name: str) -> str:
    import json

    return json.dumps(describe_facts(name), indent=2)


def describe_text(name: str) -> str:
    cls = LOSSES[name]
    lines = [f"{name} ({cls.__name__})", "", cls.description(), "", "Formula:"]
    formula = cls.formula().replace("``", "")
    lines += ["  " + line if line else "" for line in formula.splitlines()]
    lines += ["", "Parameters:"]
    params = cls.parameters()
    if not params:
        lines.append("  (none)")
    for key, p in params.items():
        lines.append(f"  {key} = {spell_value(p.default)}    ({p.annotation})")
    lines += [
        "",
        "Inputs:",
        f"  {cls.shapes}",
        "",
        "Accepted names:",
        "  " + ", ".join(identifiers_of(name)),
        "",
        "Example (from the project root):",
        f"  {example_command(name)}",
    ]
    return "\n".join(lines) + "\n"
