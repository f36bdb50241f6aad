"""Files more than one process changes keep every change: the record of first-use hashes under two real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from invertnet.errors import InvertnetError
from invertnet.files.locks import exclusive

WRITER = textwrap.dedent("""
    import sys
    from invertnet.files.sources import record
    name = sys.argv[1]
    for i in range(150):
        record(f"https://example.org/{name}/{i}", f"{i:064x}")
""")


def test_two_processes_recording_at_once_lose_no_entry(tmp_path):
    env = {**os.environ, "TORCH_HOME": str(tmp_path / "torch")}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, name], env=env) for name in ("a", "b")]
    assert [writer.wait(timeout=300) for writer in writers] == [0, 0]
    record = json.loads((tmp_path / "torch" / "hub" / "checkpoints" / "invertnet-sources.json").read_text())
    assert len(record) == 300 and record["https://example.org/b/149"] == f"{149:064x}"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="flock needs a POSIX system")
def test_a_held_lock_is_refused_when_asked_not_to_wait(tmp_path):
    lock = tmp_path / "x.lock"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from invertnet.files.locks import exclusive
        with exclusive({str(lock)!r}, "the lock"):
            print("held", flush=True)
            sys.stdin.readline()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(InvertnetError, match="busy elsewhere"):
            with exclusive(lock, "the lock", busy="busy elsewhere"):
                pass
    finally:
        holder.communicate("\n", timeout=60)
    with exclusive(lock, "the lock", busy="busy elsewhere"):  # released when its holder ended
        pass
    (tmp_path / "elsewhere").write_text("")
    (tmp_path / "link.lock").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(InvertnetError, match="is a symlink"):
        with exclusive(tmp_path / "link.lock", "the lock"):
            pass
