"""The commands of README.md and docs/*.md: every block is marked `run` or `no-run`, and every `run` block runs.

The convention (docs/design.md, "The documentation's commands"): a fenced block of commands opens with
```bash run or ```python run when this test runs it, and ```bash no-run when it needs what a test
cannot have (the full corpora, a GPU, a cluster, a server left running, a download or an install).
Each `run` block runs as a whole (bash with -euo pipefail, or Python) in a fresh directory laid out
like a clone with data: `$TAGGER_DATA_DIR` holds the shipped samples under the corpus paths the pages
name, `tagger/samples/` is there, and the input files the examples name exist, sample-sized. The
`tagger` it finds is this repository's, run by this Python.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOC_FILES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SAMPLES = REPO / "tagger" / "samples"
NER_SAMPLES = REPO / "tests" / "data"
COMMAND_LANGUAGES = {"bash", "sh", "shell", "console", "python", "py"}
MARKERS = ("run", "no-run")
OPENING_FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")


@dataclass(frozen=True)
class Block:
    """One fenced block: where it opens, its language and the words after it, and its text."""

    path: Path
    line: int
    language: str
    flags: tuple[str, ...]
    code: str

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"

    @property
    def marker(self) -> str | None:
        found = [flag for flag in self.flags if flag in MARKERS]
        return found[0] if len(found) == 1 else None


def fenced_blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file (CommonMark: a closing fence of the same character, no
    shorter than the opening one, with nothing after it)."""
    blocks, lines, index = [], path.read_text(encoding="utf-8").splitlines(), 0
    while index < len(lines):
        opening = OPENING_FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        fence, words = opening["fence"], opening["info"].split()
        closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        end = next((i for i in range(index + 1, len(lines)) if closing.match(lines[i])), len(lines))
        blocks.append(Block(path, index + 1, words[0] if words else "", tuple(words[1:]),
                            "\n".join(lines[index + 1 : end]) + "\n"))
        index = end + 1
    return blocks


ALL_BLOCKS = [block for path in DOC_FILES for block in fenced_blocks(path)]
COMMAND_BLOCKS = [block for block in ALL_BLOCKS if block.language in COMMAND_LANGUAGES]
RUN_BLOCKS = [block for block in COMMAND_BLOCKS if block.marker == "run"]


def test_the_parser_finds_the_blocks_of_a_page_with_their_markers(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("text\n\n```bash run\ntagger models\n```\n\n````text\n```\nnot a fence's end\n````\n\n"
                    "~~~python no-run\nimport x\n~~~\n\n```\nbare\n```\n")
    found = [(block.line, block.language, block.marker, block.code) for block in fenced_blocks(page)]
    assert found == [(3, "bash", "run", "tagger models\n"), (7, "text", None, "```\nnot a fence's end\n"),
                     (12, "python", "no-run", "import x\n"), (16, "", None, "bare\n")]


def test_every_block_names_its_language_and_every_command_block_says_run_or_no_run():
    unnamed = [block.name for block in ALL_BLOCKS if not block.language]
    unmarked = [block.name for block in COMMAND_BLOCKS if block.marker is None]
    assert not unnamed, f"fenced blocks without a language (commands: bash run / bash no-run; output: text): {unnamed}"
    assert not unmarked, f"command blocks marked neither `run` nor `no-run` (or both): {unmarked}"


def test_the_readme_has_runnable_commands_for_tagging_from_the_shell_and_from_python():
    readme = {(block.language, block.marker) for block in RUN_BLOCKS if block.path.name == "README.md"}
    assert {("bash", "run"), ("python", "run")} <= readme


def test_the_readme_links_every_docs_page_and_every_link_between_pages_resolves():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert not [page.name for page in DOC_FILES[1:] if f"](docs/{page.name})" not in readme]
    broken = []
    for path in DOC_FILES:
        text = path.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):  # a URL
                continue
            file, _, anchor = target.partition("#")
            linked = (path.parent / file).resolve() if file else path
            if not linked.is_file():
                broken.append(f"{path.relative_to(REPO)}: {target} (no such file)")
            elif anchor and anchor not in _anchors(linked):
                broken.append(f"{path.relative_to(REPO)}: {target} (no such heading)")
    assert not broken, broken


def _anchors(path: Path) -> set[str]:
    """GitHub's ids of a page's headings: lower case, punctuation dropped, spaces as hyphens."""
    lines = path.read_text(encoding="utf-8").splitlines()
    in_blocks = {i for block in fenced_blocks(path) for i in range(block.line - 1, block.line + block.code.count("\n") + 1)}
    headings = [line for i, line in enumerate(lines) if i not in in_blocks and line.startswith("#")]
    return {re.sub(r"[^\w\- ]", "", heading.lstrip("#").strip().lower()).replace(" ", "-") for heading in headings}


def test_the_layout_in_design_md_names_every_package():
    design = (REPO / "docs" / "design.md").read_text(encoding="utf-8")
    packages = [path.name for path in (REPO / "tagger").iterdir() if (path / "__init__.py").is_file()]
    assert packages and not [name for name in packages if f"tagger/{name}/" not in design]


@pytest.fixture
def workspace(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A directory like a clone with data, and the environment a block runs in."""
    data = tmp_path / "data"
    (data / "ud" / "en_ewt").mkdir(parents=True)
    for split, sample in [("train", "en_sample_train"), ("dev", "en_sample_dev"), ("test", "en_sample_dev")]:
        shutil.copy(SAMPLES / f"{sample}.conllu", data / "ud" / "en_ewt" / f"{split}.conllu")
    (data / "ner" / "uner_pt_bosque").mkdir(parents=True)
    for split, sample in [("train", "uner_pt_sample_train"), ("dev", "uner_pt_sample_dev"), ("test", "uner_pt_sample_dev")]:
        shutil.copy(NER_SAMPLES / f"{sample}.iob2", data / "ner" / "uner_pt_bosque" / f"{split}.iob2")
    work = tmp_path / "work"
    (work / "tagger").mkdir(parents=True)
    (work / "tagger" / "samples").symlink_to(SAMPLES)
    texts = [line[len("# text = "):] for line in (SAMPLES / "en_sample_dev.conllu").read_text().splitlines()
             if line.startswith("# text = ")]
    (work / "notes.txt").write_text(" ".join(texts[:5]) + "\n")
    (work / "chapter1.txt").write_text(" ".join(texts[5:8]) + "\n")
    (work / "chapter2.txt").write_text(" ".join(texts[8:11]) + "\n")
    (work / "corpus.conllu").write_text("".join(
        sentence + "\n\n" for sentence in (SAMPLES / "en_sample_dev.conllu").read_text().split("\n\n")[:10]))
    (work / "my").mkdir()
    shutil.copy(SAMPLES / "en_sample_train.conllu", work / "my" / "train.conllu")
    shutil.copy(SAMPLES / "en_sample_dev.conllu", work / "my" / "dev.conllu")
    bin_dir = tmp_path / "bin"  # `tagger` and `python`: this repository's, run by this Python
    bin_dir.mkdir()
    for name, runs in [("tagger", "-m tagger.cli "), ("python", "")]:
        (bin_dir / name).write_text(f'#!/bin/sh\nexec "{sys.executable}" {runs}"$@"\n')
        (bin_dir / name).chmod(stat.S_IRWXU)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "TAGGER_DATA_DIR": str(data),
           "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return work, env


@pytest.mark.parametrize("block", [
    pytest.param(block, id=block.name, marks=[pytest.mark.slow] if "tagger train" in block.code else [])
    for block in RUN_BLOCKS
])
def test_a_run_block_runs(block: Block, workspace: tuple[Path, dict[str, str]]):
    work, env = workspace
    if block.language in ("python", "py"):
        script = work / "block.py"
        script.write_text(block.code)
        command = [sys.executable, str(script)]
    else:
        command = ["bash", "-euo", "pipefail", "-c", block.code]
    result = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{block.name} exited {result.returncode}:\n{block.code}\n{result.stderr[-3000:]}"
