"""Build glue: maps the repository's top-level folders onto the single `polc` namespace.

Everything declarative lives in pyproject.toml; setuptools cannot express "folder X is
package polc.X" together with sub-package discovery there, hence this file.
"""

from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).parent
TOP_LEVEL = {"shared": "polc.shared", "edge": "polc.edge", "cloud": "polc.cloud",
             "training": "polc.training", "bench": "polc.bench"}


def _packages() -> tuple[list[str], dict[str, str]]:
    packages, package_dir = [], {}
    for folder, name in TOP_LEVEL.items():
        base = ROOT / folder
        if not (base / "__init__.py").exists():
            continue
        package_dir[name] = folder
        for init in sorted(base.rglob("__init__.py")):
            rel = init.parent.relative_to(base)
            packages.append(".".join([name, *rel.parts]) if rel.parts else name)
    return packages, package_dir


packages, package_dir = _packages()
setup(packages=packages, package_dir=package_dir)
