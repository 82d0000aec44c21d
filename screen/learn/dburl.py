"""Database URLs for SQLAlchemy (MLflow's SQL store, Optuna's RDB storage).

``postgresql://user@host/db`` names no driver; SQLAlchemy then picks its default (psycopg2 in
2.0, psycopg 3 in 2.1), which may not be installed. mgscreen installs psycopg 3
(``psycopg[binary]``), so a driver-less PostgreSQL URL is given ``+psycopg`` when psycopg is
importable. URLs naming a driver (``postgresql+psycopg2://``) and other schemes are unchanged.
"""

from __future__ import annotations

import importlib.util

POSTGRES_SCHEMES = ("postgresql", "postgres")


def with_driver(url: str) -> str:
    """``url`` with an installed PostgreSQL driver filled in (see the module docstring)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in POSTGRES_SCHEMES:
        return url
    if importlib.util.find_spec("psycopg") is not None:
        return f"postgresql+psycopg://{rest}"
    return f"postgresql://{rest}"  # SQLAlchemy refuses the "postgres" alias
