"""`callcenter ivr ...` as an admin runs it: validate a file (one line per problem, naming
the file, line, node and reason), import, publish (refused when a queue is missing),
export and roll back."""

from __future__ import annotations

from pathlib import Path

from test_cli import callcenter

from callcenter.config import PROJECT_DIR

SHIPPED = PROJECT_DIR / "ivr" / "default.yaml"


def test_an_admin_validates_imports_publishes_exports_and_rolls_back(tmp_path: Path):
    env = {"CALLCENTER_DATA_DIR": str(tmp_path / "data")}

    def run(*args: str) -> tuple[int, str, str]:
        done = callcenter(*args, cwd=tmp_path, **env)
        return done.returncode, done.stdout, done.stderr

    assert run("ivr", "validate", str(SHIPPED))[0] == 0
    broken = tmp_path / "broken.yaml"
    broken.write_text(SHIPPED.read_text().replace("next: billing}", "next: bill}"))
    code, out, _ = run("ivr", "validate", str(broken))
    menu_line = SHIPPED.read_text().splitlines().index("  main_menu:") + 1
    assert code == 1
    assert out.strip() == (
        f"{broken}:{menu_line}: node 'main_menu': goes to 'bill', which does not exist")

    assert run("db", "upgrade")[0] == 0
    code, out, _ = run("ivr", "import", str(SHIPPED))
    assert code == 0 and "imported 'default'" in out
    assert run("queue", "add", "billing")[0] == 0
    code, _, err = run("ivr", "publish", "default")
    assert code == 1 and "queue 'support' does not exist" in err, "its queues come first"
    for name in ("support", "urgent"):
        assert run("queue", "add", name)[0] == 0
    code, out, _ = run("ivr", "publish", "default", "--note", "first")
    assert (code, out.strip()) == (0, "published 'default' version 1")

    edited = tmp_path / "edited.yaml"
    edited.write_text(SHIPPED.read_text().replace("Example Support", "Garden Shop Support"))
    assert run("ivr", "import", str(edited))[0] == 0
    assert "Example Support" in run("ivr", "export", "default")[1], "the draft is not live yet"
    assert "Garden Shop Support" in run("ivr", "export", "default", "--draft")[1]
    assert run("ivr", "publish", "default")[1].strip() == "published 'default' version 2"
    assert "Garden Shop Support" in run("ivr", "export", "default")[1]

    code, out, _ = run("ivr", "rollback", "default", "1")
    assert (code, out.strip()) == (0, "rolled 'default' back to version 1 (now version 3)")
    assert "Example Support" in run("ivr", "export", "default")[1]
    code, _, err = run("ivr", "rollback", "default", "9")
    assert code == 1 and "no version 9" in err
