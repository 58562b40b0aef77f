"""CITATION.cff (Citation File Format 1.2.0) and CHANGELOG.md (Keep a Changelog) of the project."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from hazardcore.export import METHOD_REFERENCE

ROOT = Path(__file__).resolve().parents[1]
#: The keys CFF 1.2.0 requires of every CITATION.cff.
REQUIRED = ("cff-version", "message", "title", "authors")
#: The change types of Keep a Changelog 1.1.0.
CHANGE_TYPES = ("Added", "Changed", "Deprecated", "Removed", "Fixed", "Security")


def project_field(name: str) -> str:
    """A top-level string field of pyproject's [project] table (tomllib needs Python 3.11)."""
    text = (ROOT / "pyproject.toml").read_text()
    table = text[text.index("[project]"):]
    match = re.search(rf'^{name} = "([^"]+)"', table, re.MULTILINE)
    assert match, name
    return match.group(1)


def test_citation_file_is_valid_cff_1_2_0() -> None:
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert [key for key in REQUIRED if key not in cff] == []
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    assert isinstance(cff["message"], str) and cff["message"].strip() and isinstance(cff["title"], str)
    assert isinstance(cff["authors"], list) and cff["authors"]
    for person in cff["authors"] + [author for ref in cff.get("references", []) for author in ref["authors"]]:
        assert isinstance(person, dict) and ("name" in person or "family-names" in person), person
    assert cff["version"] == project_field("version") and cff["license"] == project_field("license")
    for reference in cff["references"]:
        assert {"type", "title", "authors"} <= set(reference)
        assert re.fullmatch(r"10\.\d{4,9}/\S+", reference["doi"])
    assert cff["references"][0]["doi"] in METHOD_REFERENCE  # the method the products cite


def test_changelog_keeps_a_changelog() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.startswith("# Changelog\n") and "keepachangelog.com" in text
    versions = re.findall(r"^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?$", text, re.MULTILINE)
    assert versions[0] == ("Unreleased", "") and versions[1] == (project_field("version"), "2026-11-24")
    assert len(versions) == len(re.findall(r"^## ", text, re.MULTILINE))  # every section is a version
    sections = re.findall(r"^### (.+)$", text, re.MULTILINE)
    assert sections and set(sections) <= set(CHANGE_TYPES)
    for block in re.split(r"^## .*$", text, flags=re.MULTILINE)[1:]:
        kinds = re.findall(r"^### (.+)$", block, re.MULTILINE)
        assert kinds == sorted(kinds, key=CHANGE_TYPES.index) and len(kinds) == len(set(kinds))
        assert all(re.search(rf"^### {kind}\n\n- ", block, re.MULTILINE) for kind in kinds)
