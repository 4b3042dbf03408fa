"""The suite's fixtures, declared once: the plugin modules under ``tests/fixtures/`` (see its
``__init__``). Test modules name fixtures as arguments; none imports or re-binds one."""

pytest_plugins = [
    "fixtures.codec",
    "fixtures.teacher",
    "fixtures.cloud",
    "fixtures.store",
    "fixtures.pki",
]
