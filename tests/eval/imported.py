"""Scores the matcher on questions about imported matters: `python -m tests.eval.imported` imports
/work/shared/data/gd-guides.xlsx (or the workbook given) over the sample base and scores
tests/eval/imported.yaml, a set written before any tuning and never tuned on."""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

from knowledge import importer
from knowledge.loader import KnowledgeBase, load
from knowledge.matcher import Matcher
from tests.eval.evaluate import Report, evaluate

ROOT = Path(__file__).resolve().parents[2]
SET = Path(__file__).resolve().parent / "imported.yaml"
WORKBOOK = Path("/work/shared/data/gd-guides.xlsx")


def imported_base(workbook: Path = WORKBOOK, root: Path = ROOT / "knowledge" / "sample") -> KnowledgeBase:
    base = load(root, allow_empty=True)
    plan = importer.merge(importer.read(workbook, base.center), base.matters, base.center)
    assert not [p for p in plan.problems if p.level == "error"], plan.problems
    return load(root, {m.id: m.model_dump(mode="json") for m in plan.added + plan.updated})


def questions(kb: KnowledgeBase, path: Path = SET) -> list[dict]:
    """The set in evaluate()'s format: names turned into the ids the import gave."""
    ids = {m.name: m.id for m in kb.matters.values()}
    out = []
    for item in yaml.safe_load(path.read_text(encoding="utf-8")):
        if item.get("expect") == "ask":
            out.append({"q": item["q"], "expect": "ask", "among": [ids[n] for n in item["among_names"]]})
        else:
            out.append({"q": item["q"], "expect": ids[item["expect_name"]]})
    return out


def score(matcher: Matcher, kb: KnowledgeBase) -> Report:
    return evaluate(matcher, questions(kb))


def own_center(tmp: Path) -> Path:
    """A center whose whole list is the workbook: the sample's center.yaml without its matters, its
    referral units (which send 驾驶证, 护照, 残疾证 questions elsewhere) or popular list."""
    import shutil

    sample = ROOT / "knowledge" / "sample"
    for name in ("menu.yaml", "lexicon.yaml", "resources.yaml"):
        shutil.copy(sample / name, tmp / name)
    center = yaml.safe_load((sample / "center.yaml").read_text(encoding="utf-8"))
    center.update(units=[], popular=[], categories=[])
    (tmp / "center.yaml").write_text(yaml.safe_dump(center, allow_unicode=True), encoding="utf-8")
    return tmp


if __name__ == "__main__":
    import tempfile

    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    workbook = Path(args[0]) if args else WORKBOOK
    if "--alone" in sys.argv:
        kb = imported_base(workbook, own_center(Path(tempfile.mkdtemp())))
    else:
        kb = imported_base(workbook)
    report = score(Matcher(kb, cache_dir=ROOT / "var" / "cache"), kb)
    print("\n".join(report.misses))
    print(report.summary())
