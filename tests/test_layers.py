"""The house: dependencies point one way, bot/ -> handlers/ -> knowledge/, and the store does what handlers need."""
from __future__ import annotations

import ast
import inspect
from pathlib import Path

from bot.store import AccessStore, BookingStore, RatingStore, RecordStore, Store
from handlers.context import AccessStorage, BookingStorage, RatingStorage, RecordStorage, Storage

ROOT = Path(__file__).resolve().parent.parent
# a layer may not import the layers above it
ABOVE = {"handlers": ("bot",), "knowledge": ("bot", "handlers")}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_layers_point_one_way():
    wrong = []
    for layer, above in ABOVE.items():
        files = sorted((ROOT / layer).rglob("*.py"))
        assert files, layer
        for path in files:
            for module in imported_modules(path):
                if module.split(".")[0] in above:
                    wrong.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_the_store_offers_every_operation_handlers_declare():
    for protocol, implementation in ((Storage, Store), (BookingStorage, BookingStore), (RecordStorage, RecordStore),
                                    (RatingStorage, RatingStore),
                                    (AccessStorage, AccessStore)):
        for name, declared in vars(protocol).items():
            if name.startswith("_"):
                continue
            offered = getattr(implementation, name, None)
            assert offered is not None, f"{implementation.__name__} lacks {name}"
            if inspect.isfunction(declared):
                assert list(inspect.signature(offered).parameters) == list(inspect.signature(declared).parameters), name
