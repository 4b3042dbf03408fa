"""Build glue: maps the repository's top-level folders onto the single `polc` namespace.

Everything declarative lives in pyproject.toml; setuptools cannot express "folder X is
package polc.X" together with sub-package discovery there, hence this file.
"""

import sys
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).parent
TOP_LEVEL = {
    "shared": "polc.shared",
    "edge": "polc.edge",
    "cloud": "polc.cloud",
    "training": "polc.training",
    "bench": "polc.bench",
    "app": "polc.app",
}


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


def _generate_grpc() -> Path | None:
    """Compile proto/polc/v1/*.proto into build/proto_gen (package ``polc.v1``).

    The generated code is a build product: never committed, never edited by hand.
    """
    protos = sorted((ROOT / "proto" / "polc" / "v1").glob("*.proto"))
    if not protos:
        return None
    import grpc_tools
    from grpc_tools import protoc

    out = ROOT / "build" / "proto_gen"
    out.mkdir(parents=True, exist_ok=True)
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{ROOT / 'proto'}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--pyi_out={out}",
        *[str(p) for p in protos],
    ]
    if protoc.main(args) != 0:
        sys.exit("setup.py: protoc failed on proto/polc/v1/*.proto")
    for pkg in (out / "polc", out / "polc" / "v1"):
        (pkg / "__init__.py").touch()
    return out / "polc" / "v1"


packages, package_dir = _packages()
if (generated := _generate_grpc()) is not None:
    packages.append("polc.v1")
    package_dir["polc.v1"] = str(generated.relative_to(ROOT))
setup(packages=packages, package_dir=package_dir)
