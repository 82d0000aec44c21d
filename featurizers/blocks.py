"""Feature blocks: what the system featurizer is composed of (like matminer's
``MultipleFeaturizer`` or a scikit-learn ``ColumnTransformer``).

A :class:`BlockSpec` says which column of a system table a component featurizer reads and how
several components in one cell are combined:

- ``single`` — one component per cell (the anion, the coating);
- ``mixture`` — ``:``-joined components averaged with the weights of ``ratio_column``
  (solvents; a blank ratio means equal parts);
- ``additive`` — ``:``-joined components averaged with equal weights; ``none`` gives 0 and a
  blank (unknown) cell NaN.

Output columns are ``<block>__<feature>``. The ``system`` block (concentrations, test
conditions, chloride flag, metal descriptors; :mod:`featurizers.system`) always comes last.
Feature-block names, the explanation groups (``group``: which column of the formulation the
block describes), progress totals and citations all derive from the registered specs, so adding
a block is one module that calls :func:`register_block`, plus its tests; modules of this
package are imported when the blocks are first listed.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Combine = Literal["single", "mixture", "additive"]
#: The conditions block's name (its features are documented in :mod:`featurizers.system`).
SYSTEM_BLOCK = "system"
#: How explanations name the system block.
CONDITIONS_GROUP = "conditions"


@dataclass(frozen=True)
class BlockSpec:
    """One component block of the system featurizer (see the module docstring).

    ``featurizer`` builds the component featurizer (a
    :class:`~featurizers.base.ComponentFeaturizer` subclass, called with ``library``,
    ``cache_dir``, ``use_cache``, ``on_error``); blocks that build the same class with the
    same arguments share one instance (the solvent and additive blocks do). ``order`` sorts
    the blocks in the output.
    """

    name: str
    column: str
    featurizer: Callable[..., object]
    combine: Combine = "single"
    ratio_column: str | None = None
    order: int = 100

    @property
    def group(self) -> str:
        """The formulation part this block describes (the column it reads)."""
        return self.column


_BLOCKS: dict[str, BlockSpec] = {}
_LOCK = threading.RLock()
_LOADED = False


def register_block(spec: BlockSpec) -> BlockSpec:
    """Add a component block (a name registered twice must be the same spec)."""
    with _LOCK:
        old = _BLOCKS.get(spec.name)
        if old is not None and old != spec:
            raise ValueError(f"feature block {spec.name!r} is already registered")
        _BLOCKS[spec.name] = spec
    return spec


def unregister_block(name: str) -> None:
    """Remove a block (tests that add toy blocks clean up with this)."""
    with _LOCK:
        _BLOCKS.pop(name, None)


def _load() -> None:
    global _LOADED
    with _LOCK:
        if _LOADED:
            return
        _LOADED = True
        import featurizers

        for info in sorted(pkgutil.iter_modules(featurizers.__path__), key=lambda m: m.name):
            if not info.name.startswith("_"):
                importlib.import_module(f"featurizers.{info.name}")


def component_blocks() -> tuple[BlockSpec, ...]:
    """Every registered component block, in output order."""
    _load()
    with _LOCK:
        return tuple(sorted(_BLOCKS.values(), key=lambda b: (b.order, b.name)))


def block_names() -> tuple[str, ...]:
    """Names of every block a config may select: the component blocks, then ``system``."""
    return (*(b.name for b in component_blocks()), SYSTEM_BLOCK)


def explanation_groups() -> dict[str, tuple[str, ...]]:
    """Explanation group → feature-name prefixes: each formulation column's blocks together,
    and ``conditions`` for the system block."""
    groups: dict[str, list[str]] = {}
    for block in component_blocks():
        groups.setdefault(block.group, []).append(f"{block.name}__")
    groups[CONDITIONS_GROUP] = [f"{SYSTEM_BLOCK}__"]
    return {k: tuple(v) for k, v in groups.items()}
