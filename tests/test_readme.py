"""The README's Python example of a network of one's own runs as written (in a temporary folder)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
MARKER = "<!-- README example: tests/test_readme.py runs this block -->"


def test_the_module_encoder_example_trains_and_inverts(tmp_path, monkeypatch):
    text = README.read_text(encoding="utf-8")
    assert MARKER in text
    block = re.search(r"```python\n(.*?)```", text[text.index(MARKER):], re.S).group(1)
    monkeypatch.chdir(tmp_path)
    scope: dict[str, object] = {}
    exec(compile(block, str(README), "exec"), scope)  # noqa: S102 - the project's own README
    assert tuple(scope["recon"].shape) == (1, 3, 224, 224)
    assert (tmp_path / "runs" / "mine" / "generator.safetensors").is_file()
