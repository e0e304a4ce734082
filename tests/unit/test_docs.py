"""The documentation holds together: the README opens with the two commands, every relative link and anchor leads
somewhere, docs/index.md names every page, and the paths CONTRIBUTING.md's checklists name exist."""

import re

import pytest

from aevb.config.hydra_glue import PROJECT_ROOT

PAGES = [PROJECT_ROOT / "README.md", PROJECT_ROOT / "CONTRIBUTING.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.DOTALL)
    return {slug(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


def test_the_readme_opens_with_the_training_and_test_commands():
    first_block = re.search(r"```bash\n(.*?)```", (PROJECT_ROOT / "README.md").read_text(), flags=re.DOTALL).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()]
    assert commands[:2] == ["uv run aevb-train", "uv run pytest"]


def test_the_readme_stays_a_first_page():
    assert len((PROJECT_ROOT / "README.md").read_text().splitlines()) <= 300, "move the detail to docs/operations.md"


@pytest.mark.parametrize("page", PAGES, ids=lambda path: str(path.relative_to(PROJECT_ROOT)))
def test_relative_links_and_anchors_lead_somewhere(page):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        destination = (page.parent / file).resolve() if file else page
        assert destination.exists(), f"{page.name} links to {target}, which does not exist"
        if anchor and destination.suffix == ".md":
            assert anchor in anchors(destination), f"{page.name} links to {target}: no such heading"


def test_the_index_names_every_page_and_folder_of_docs():
    index = (PROJECT_ROOT / "docs" / "index.md").read_text()
    docs = PROJECT_ROOT / "docs"
    names = [p.name for p in docs.glob("*.md") if p.name != "index.md"] + [f"{p.name}/" for p in docs.iterdir() if p.is_dir()]
    assert not [name for name in names if f"]({name})" not in index], "docs/index.md: one line per page"


def test_the_paths_contributing_names_exist():
    text = (PROJECT_ROOT / "CONTRIBUTING.md").read_text()
    paths = set(re.findall(r"`((?:src|conf|tests|scripts|docs|\.ci)/[^`<>*\s]*)`", text))
    assert paths
    missing = sorted(path for path in paths if not (PROJECT_ROOT / path).exists())
    assert not missing, f"CONTRIBUTING.md names paths that are not in the tree: {missing}"
