"""Loading pydantic-settings models from a YAML file, the environment and CLI overrides.

Shared by the cloud and the edge configuration. Precedence: command-line overrides >
environment variables > the YAML file > defaults. Every validation error becomes one
:class:`ConfigError` naming the offending field.
"""

from __future__ import annotations

from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from polc.shared.addresses import parse_host_port
from polc.shared.errors import ConfigError

_YAML_DATA: ContextVar[dict[str, Any] | None] = ContextVar("polc_yaml_data", default=None)

SettingsT = TypeVar("SettingsT", bound=BaseSettings)


class YamlSource(PydanticBaseSettingsSource):
    """The YAML file's content (set by :func:`load_settings` for one instantiation).

    Use from a model's ``settings_customise_sources``:
    ``return init_settings, env_settings, YamlSource(settings_cls)``.
    """

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return _YAML_DATA.get() or {}


class ServiceSettings(BaseSettings):
    """A service's configuration (the edge's, the cloud's), read from init arguments, then the
    environment, then the YAML file (``YamlSource``), first one wins; its ``metrics_listen``
    (declared by each service with its own default) is HOST:PORT, or '' / None for none."""

    @field_validator("metrics_listen", check_fields=False)
    @classmethod
    def _metrics_listen(cls, v: str | None) -> str | None:
        if not v:
            return None
        parse_host_port(v, allow_port_zero=True, field="metrics_listen")
        return v

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        return init_settings, env_settings, YamlSource(settings_cls)


class StrictModel(BaseModel):
    """A plain (file-only) config model: unknown fields are errors, not ignored."""

    model_config = ConfigDict(extra="forbid")


def format_validation_error(err: ValidationError, origin: str) -> str:
    """One line naming the first offending field."""
    first = err.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "(root)"
    return f"{origin}: field '{field}': {first['msg']}"


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    if not Path(path).is_file():
        raise ConfigError(f"cannot read config file {path}: not found")
    try:
        loaded = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {path}: top level must be a mapping")
    return loaded


def _set_nested(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for key in parents:
        data = data.setdefault(key, {})
    data[leaf] = value


def load_settings(
    model: type[SettingsT], path: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> SettingsT:
    """Build ``model`` from YAML + env + ``overrides`` (dotted names; ``None`` ignored)."""
    data = read_yaml_mapping(path) if path is not None else {}
    init: dict[str, Any] = {}
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set_nested(init, dotted, value)
    token = _YAML_DATA.set(data)
    try:
        return model(**init)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        where = f" in {path}" if path else ""
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"config field '{field}'{where}: {msg}{more}") from None
    finally:
        _YAML_DATA.reset(token)
