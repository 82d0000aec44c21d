"""The featurization check of the candidate check (:data:`screen.data.rules.ComponentCheck`),
built lazily: commands that only see library components never import the featurizers."""

from __future__ import annotations

from collections.abc import Callable

from screen.data.components import ComponentLibrary


def featurization_check(library: ComponentLibrary | None = None,
                        cache_dir: str | None = None) -> Callable[[str, str], str | None]:
    """``check(kind, text)``: why a component outside the library cannot be featurized, or
    None (see :meth:`featurizers.system.SystemFeaturizer.component_problem`). The system
    featurizer is built on the first call."""
    built = []

    def check(kind: str, text: str) -> str | None:
        if not built:
            from featurizers.system import SystemFeaturizer

            built.append(SystemFeaturizer(library=library, cache_dir=cache_dir).fit())
        return built[0].component_problem(kind, text)

    return check
