"""The apps depend one way: `credits` may use `pricing`, `pricing` never uses `credits`, not even
inside a function. Every module under pricing/ (migrations and commands included) is parsed, and
each way of reaching the credits app is refused: imports (absolute or relative), dynamic imports
(`importlib.import_module("credits…")`, `__import__`), the app registry (`apps.get_model("credits",
…)`), lazy model references (`ForeignKey("credits.Resource")`) and migration dependencies
(`("credits", "0011_…")`)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP = "pricing"
FORBIDDEN = "credits"

_DYNAMIC_IMPORTS = {"import_module", "__import__"}
_REGISTRY_LOOKUPS = {"get_model", "get_app_config", "get_registered_model", "is_installed"}
_RELATION_FIELDS = {"ForeignKey", "OneToOneField", "ManyToManyField"}
_MIGRATION_LINKS = {"dependencies", "run_before"}


def _is_forbidden(name: str | None) -> bool:
    return name is not None and (name == FORBIDDEN or name.startswith(FORBIDDEN + "."))


def _string(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _called_name(call: ast.Call) -> str:
    function = call.func
    if isinstance(function, ast.Attribute):
        return function.attr
    return function.id if isinstance(function, ast.Name) else ""


def _relative_targets(node: ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """What `from <dots><module> import <names>` can load, as absolute module names."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    if node.level:
        if node.level - 1 > len(package):
            return []  # beyond the top level: Python refuses it anyway
        package = package[:len(package) - (node.level - 1)]
        base = ".".join([*package, *([node.module] if node.module else [])])
    else:
        base = node.module or ""
    # `from x import y` may load the module x.y
    return [base, *(f"{base}.{alias.name}" if base else alias.name for alias in node.names)]


def forbidden_uses(source: str, *, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, what) for every use of the forbidden app in the module's source."""
    uses = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            uses += [(node.lineno, f"import {alias.name}") for alias in node.names
                     if _is_forbidden(alias.name)]
        elif isinstance(node, ast.ImportFrom):
            if any(_is_forbidden(target)
                   for target in _relative_targets(node, module, is_package)):
                names = ", ".join(alias.name for alias in node.names)
                uses.append((node.lineno,
                             f"from {'.' * node.level}{node.module or ''} import {names}"))
        elif isinstance(node, ast.Call):
            name = _called_name(node)
            first = _string(node.args[0]) if node.args else None
            keywords = {keyword.arg: _string(keyword.value) for keyword in node.keywords}
            if name in _DYNAMIC_IMPORTS and (
                    _is_forbidden(first or keywords.get("name"))
                    or _is_forbidden(keywords.get("package"))):
                uses.append((node.lineno, f"{name}({first or keywords.get('name')!r})"))
            elif name in _REGISTRY_LOOKUPS and _is_forbidden(first or keywords.get("app_label")):
                uses.append((node.lineno, f"{name}({first or keywords.get('app_label')!r}, …)"))
            elif name in _RELATION_FIELDS and _is_forbidden(first or keywords.get("to")):
                uses.append((node.lineno, f"{name}({first or keywords.get('to')!r})"))
            elif _is_forbidden(keywords.get("to")):  # a migration's field: to="credits.resource"
                uses.append((node.lineno, f"{name}(to={keywords['to']!r})"))
        elif isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id in _MIGRATION_LINKS
                for target in node.targets):
            for item in ast.walk(node.value):  # ("credits", "0011_…"): a migration dependency
                if isinstance(item, ast.Tuple) and len(item.elts) == 2:
                    label, name = (_string(element) for element in item.elts)
                    if label == FORBIDDEN and name is not None:
                        uses.append((item.lineno, f"({label!r}, {name!r})"))
    return sorted(uses)


def _modules() -> list[Path]:
    return sorted(path for path in (ROOT / APP).rglob("*.py") if "__pycache__" not in path.parts)


def test_no_module_of_pricing_uses_credits():
    offending = []
    for path in _modules():
        relative = path.relative_to(ROOT)
        module = ".".join(relative.with_suffix("").parts)
        is_package = path.name == "__init__.py"
        if is_package:
            module = module.removesuffix(".__init__")
        for line, what in forbidden_uses(path.read_text(encoding="utf-8"), module=module,
                                         is_package=is_package):
            offending.append(f"{relative}:{line}: {what}")

    assert not offending, (f"{APP} must not depend on {FORBIDDEN} (what needs both lives in "
                           f"{FORBIDDEN}):\n" + "\n".join(offending))


def test_every_kind_of_module_of_pricing_is_read():
    relative = {str(path.relative_to(ROOT)) for path in _modules()}

    assert {"pricing/models.py", "pricing/admin.py", "pricing/__init__.py",
            "pricing/migrations/0001_initial.py",
            "pricing/management/commands/pricing_import.py"} <= relative


# --- the check itself can fail -----------------------------------------------------------------

@pytest.mark.parametrize("source, line, what", [
    ("import credits.models\n", 1, "import credits.models"),
    ("import os, credits\n", 1, "import credits"),
    ("from credits.models import Resource\n", 1, "from credits.models import Resource"),
    ("from credits import models\n", 1, "from credits import models"),
    ("def f():\n    from credits.locks import accounts_lock_ids\n", 2,
     "from credits.locks import accounts_lock_ids"),
    ("class A:\n    def f(self):\n        import credits.selectors.resources as r\n", 3,
     "import credits.selectors.resources"),
    ("from .. import credits\n", 1, "from .. import credits"),
    ("from ..credits.models import Lot\n", 1, "from ..credits.models import Lot"),
    ("import importlib\nm = importlib.import_module('credits.tasks')\n", 2,
     "import_module('credits.tasks')"),
    ("from importlib import import_module\nimport_module('.models', package='credits')\n", 2,
     "import_module('.models')"),
    ("m = __import__('credits')\n", 1, "__import__('credits')"),
    ("def f(apps):\n    return apps.get_model('credits', 'Resource')\n", 2,
     "get_model('credits', …)"),
    ("from django.apps import apps\nR = apps.get_model('credits.Resource')\n", 2,
     "get_model('credits.Resource', …)"),
    ("x = models.ForeignKey('credits.Resource', on_delete=models.CASCADE)\n", 1,
     "ForeignKey('credits.Resource')"),
    ("f = models.ForeignKey(on_delete=models.CASCADE, to='credits.resource')\n", 1,
     "ForeignKey('credits.resource')"),
    ("dependencies = [\n    ('pricing', '0003_x'),\n    ('credits', '0011_x'),\n]\n", 3,
     "('credits', '0011_x')"),
])
def test_the_check_finds_each_way_of_reaching_credits_with_its_line(source, line, what):
    assert forbidden_uses(source, module="pricing.example") == [(line, what)]


@pytest.mark.parametrize("source", [
    "from . import costs\nfrom .models import PricingVersion\n",
    "from pricing.credits_note import x\n",  # a name that only starts like the app's
    "import credits_project.text\n",
    "help_text = 'Credits per hour of the credit-paid resources.'\n",
    "'''Impact on resources lives in credits/impact.py (credits.impact).'''\n",
    "x = {'credits': 1}\nlabel = ('credits', 1)\n",
    "choices = [('credits', 'Credits'), ('tokens', 'Tokens')]\n",
    "from . import credits\n",  # pricing.credits, a module of pricing itself
])
def test_the_check_lets_pricing_only_code_and_mere_mentions_pass(source):
    assert forbidden_uses(source, module="pricing.example") == []


def test_a_relative_import_is_resolved_from_the_module_package():
    # pricing/migrations/0004.py: ".." is pricing, "..." the top level
    assert forbidden_uses("from ..credits import x\n", module="pricing.migrations.m") == []
    assert forbidden_uses("from ...credits import x\n", module="pricing.migrations.m") == [
        (1, "from ...credits import x")]
    # in a package's __init__, "." is the package itself
    assert forbidden_uses("from .. import credits\n", module="pricing", is_package=True) == [
        (1, "from .. import credits")]
