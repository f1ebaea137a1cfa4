"""Imports run one way: views -> flows -> domain services -> models -> db/config.

Read from the source with `ast`, so a wrong import fails here before it tangles anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "callcenter"
DOMAINS = ("accounts", "audit", "blocklist", "channels", "customers", "ivr", "reports", "routing",
           "telephony", "tickets", "webhooks")
# Parts that build the app from everything; nothing inside it imports them.
ROOTS = ("callcenter.app", "callcenter.asgi", "callcenter.cli", "callcenter.demo",
         "callcenter.worker")
# Shared machinery every layer may use, which itself knows no domain and no use case.
INFRASTRUCTURE = ("config", "db", "events", "unit_of_work", "jobs", "upsert", "logs",
                  "business_hours", "exports")
# A domain's HTTP modules besides its views, with the request each one serves.
HTTP_EDGE = {
    "accounts/auth.py": "who is asking: tokens, sessions, roles, CSRF",
    "telephony/webhooks.py": "the guard every Twilio webhook goes through",
}


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, as dotted names (`from callcenter import x` as c.x)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            # Relative imports would slip past these rules: the project uses none.
            assert node.level == 0, f"{path}: a relative import (from {'.' * node.level}...)"
            assert node.module is not None
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _touches(imports: set[str], *prefixes: str) -> list[str]:
    return sorted(name for name in imports
                  if any(name == p or name.startswith(p + ".") for p in prefixes))


def _modules(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


def _is_views(path: Path) -> bool:
    """A domain's edge: its HTTP views, or a listener for another protocol (SMTP)."""
    return path.name in ("views.py", "listener.py") or path.name.endswith("_views.py")


def test_web_holds_layout_only():
    """Templates and static files: pages live in their domain's views."""
    code = [path.name for path in _modules("web") if path.name != "__init__.py"]
    assert code == []


@pytest.mark.parametrize("domain", DOMAINS)
def test_a_domain_reaches_the_request_only_from_its_views(domain: str):
    for path in _modules(domain):
        relative = f"{domain}/{path.name}"
        imports = _imports(path)
        assert not _touches(imports, *ROOTS), relative
        if _is_views(path):
            continue
        assert not _touches(imports, "callcenter.flows"), f"{relative} imports a flow"
        if relative in HTTP_EDGE:
            continue
        wrong = _touches(imports, "callcenter.http", "callcenter.web", "quart")
        assert not wrong, f"{relative} is below the request but imports {wrong}"


@pytest.mark.parametrize("domain", DOMAINS)
def test_no_module_imports_a_views_module_but_the_app(domain: str):
    views = [f"callcenter.{domain}.{path.stem}" for path in _modules(domain) if _is_views(path)]
    for path in PACKAGE.rglob("*.py"):
        if path.stem in ("app", "asgi") and path.parent == PACKAGE:
            continue
        assert not _touches(_imports(path), *views), f"{path.relative_to(PACKAGE)} imports views"


def test_flows_sit_between_views_and_services():
    for path in _modules("flows"):
        imports = _imports(path)
        wrong = _touches(imports, "callcenter.http", "callcenter.web", "quart", *ROOTS)
        assert not wrong, f"flows/{path.name} imports {wrong}"


@pytest.mark.parametrize("module", INFRASTRUCTURE)
def test_infrastructure_knows_no_domain_and_no_use_case(module: str):
    imports = _imports(PACKAGE / f"{module}.py")
    layers = [f"callcenter.{name}" for name in (*DOMAINS, "flows", "http", "web")]
    assert not _touches(imports, *layers, *ROOTS), imports


def test_the_rules_can_fail():
    """The reader finds what a rule forbids (a test of the test)."""
    sample = PACKAGE.parent / "tests" / "test_layering.py"
    assert _touches(_imports(sample), "pytest") == ["pytest"]
    assert "callcenter.flows.offers" in _imports(PACKAGE / "worker.py")


def test_every_package_is_a_known_layer():
    """A new domain package is held to the rules above only once it is named in DOMAINS."""
    packages = {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    assert packages == {*DOMAINS, "flows", "http", "web", "migrations"}
