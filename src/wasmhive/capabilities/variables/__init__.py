"""Application variables: `[variables]`, providers (environment, `--variable`, `.env`) and templates."""

from ._host import INTERFACES, VariablesFactor
from ._resolve import DotEnvProvider, EnvProvider, MapProvider, Provider, ResolvedVariables, render, resolve

__all__ = [
    "INTERFACES",
    "DotEnvProvider",
    "EnvProvider",
    "MapProvider",
    "Provider",
    "ResolvedVariables",
    "VariablesFactor",
    "render",
    "resolve",
]
