"""Loads the knowledge base from YAML and validates it, reporting every problem with its file and field."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from knowledge.schema import Center, Lexicon, Matter, MatterFile, Menu, Resource, ResourceFile


class KnowledgeError(Exception):
    """The knowledge base is invalid; `problems` lists every one as 'file: field: message'."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid knowledge base:\n  " + "\n  ".join(problems))


@dataclass
class KnowledgeBase:
    center: Center
    matters: dict[str, Matter]
    menu: Menu
    source: Path
    lexicon: Lexicon = field(default_factory=Lexicon)
    resources: dict[str, Resource] = field(default_factory=dict)
    max_no_shows: int = 3
    categories: list[str] = field(default_factory=list)
    center_made: set[str] = field(default_factory=set)  # ids of matters that come from the overlay
    retired: dict[str, Matter] = field(default_factory=dict)  # matters of the YAML the overlay retires
    version: int = 0  # the version of the center-made part it was built from (bot.store.knowledge)

    def __post_init__(self) -> None:
        if not self.categories:
            self.categories = list(dict.fromkeys(m.category for m in self.matters.values()))

    def in_category(self, category: str) -> list[Matter]:
        return [m for m in self.matters.values() if m.category == category]


def _field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _validate(model: type[BaseModel], data: Any, name: str, problems: list[str]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            where = _field_path(err["loc"])
            # name the matter by id where the path goes through one, so the keeper finds it
            if err["loc"][:1] == ("matters",) and len(err["loc"]) > 1 and isinstance(data, dict):
                try:
                    mid = data["matters"][err["loc"][1]].get("id")
                    if mid:
                        where += f" (matter '{mid}')"
                except (IndexError, KeyError, TypeError, AttributeError):
                    pass
            problems.append(f"{name}: {where}: {err['msg']}")
        return None


def _read_yaml(path: Path, root: Path, problems: list[str]) -> Any:
    name = str(path.relative_to(root))
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError:
        problems.append(f"{name}: file is missing")
    except UnicodeDecodeError as exc:
        problems.append(f"{name}: not UTF-8 text ({exc.reason})")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}" if mark else "(parse)"
        problems.append(f"{name}: {at}: {getattr(exc, 'problem', None) or exc}")
    return None


OVERLAY = "center-made matters"  # how problems name the overlay (imports and console edits)


def load(root: Path | str, overlay: dict[str, Any] | None = None, allow_empty: bool = False) -> KnowledgeBase:
    """Load center.yaml, menu.yaml and matters/*.yaml under `root`, or raise KnowledgeError.

    `overlay` is the center-made part of the base (imported or edited in the console): matter id ->
    the matter's fields, replacing or adding to the YAML's matters, or None to retire the YAML's matter.
    It is validated with the same schema, and its problems name the matter. `allow_empty`: a base
    with no matter yet is valid (a new center reading its first 事项清单)."""
    root = Path(root)
    problems: list[str] = []

    center = _validate(Center, _read_yaml(root / "center.yaml", root, problems), "center.yaml", problems)
    menu = _validate(Menu, _read_yaml(root / "menu.yaml", root, problems), "menu.yaml", problems)
    booking = ResourceFile.model_construct(resources=[], max_no_shows=3)
    if (root / "resources.yaml").exists():
        booking = _validate(ResourceFile, _read_yaml(root / "resources.yaml", root, problems),
                            "resources.yaml", problems) or booking
    lexicon = Lexicon()
    if (root / "lexicon.yaml").exists():
        lexicon = _validate(Lexicon, _read_yaml(root / "lexicon.yaml", root, problems), "lexicon.yaml", problems)

    matters: dict[str, Matter] = {}
    where_defined: dict[str, str] = {}
    files = sorted((root / "matters").glob("*.yaml")) if (root / "matters").is_dir() else []
    if not files and not allow_empty and not any(v is not None for v in (overlay or {}).values()):
        problems.append("matters/: no *.yaml files (and no imported matters)")
    for path in files:
        name = str(path.relative_to(root))
        parsed = _validate(MatterFile, _read_yaml(path, root, problems), name, problems)
        if parsed is None:
            continue
        for i, matter in enumerate(parsed.matters):
            if matter.id in matters:
                problems.append(f"{name}: matters[{i}].id: '{matter.id}' is already defined in "
                                f"{where_defined[matter.id]}")
                continue
            matters[matter.id] = matter
            where_defined[matter.id] = name
            if center is not None and center.window(matter.window) is None:
                problems.append(f"{name}: matters[{i}].window (matter '{matter.id}'): "
                                f"no window '{matter.window}' in center.yaml")

    yaml_categories = list(dict.fromkeys(m.category for m in matters.values()))
    center_made: set[str] = set()
    retired: dict[str, Matter] = {}
    for mid, data in sorted((overlay or {}).items()):
        if data is None:
            if mid in matters:
                retired[mid] = matters.pop(mid)
            continue
        label = f"{OVERLAY}: matter '{mid}'" + (f" ({data.get('name')})" if isinstance(data, dict) else "")
        try:
            matter = Matter.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors():
                problems.append(f"{label}: {_field_path(err['loc'])}: {err['msg']}")
            continue
        if matter.id != mid:
            problems.append(f"{label}: id: '{matter.id}' is stored under '{mid}'")
            continue
        if center is not None and center.window(matter.window) is None:
            problems.append(f"{label}: window: no window '{matter.window}' in center.yaml")
        matters[mid] = matter
        center_made.add(mid)

    if center is not None:
        for i, mid in enumerate(center.popular):
            if mid in retired:
                continue  # retired by the center: simply not offered
            if mid not in matters:
                problems.append(f"center.yaml: popular[{i}]: no matter '{mid}'")
        missing = [c for c in yaml_categories if center.categories and c not in center.categories]
        if missing:
            problems.append(f"center.yaml: categories: does not list {', '.join(missing)}")
    if problems:
        raise KnowledgeError(problems)
    used = list(dict.fromkeys(m.category for m in matters.values()))
    ordered = [c for c in center.categories if c in used] + [c for c in used if c not in center.categories]
    return KnowledgeBase(center=center, matters=matters, menu=menu, source=root, categories=ordered,
                         lexicon=lexicon, resources={r.id: r for r in booking.resources},
                         max_no_shows=booking.max_no_shows, center_made=center_made, retired=retired)
