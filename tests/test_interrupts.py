"""A Ctrl-C swallowed by RDKit's substructure search is not lost, and nothing partial is
cached."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from featurizers.interrupts import RDKIT_INTERRUPTED, hook_rdkit, raise_if_interrupted


def test_rdkit_installs_its_own_sigint_handler_during_a_search():
    """Why the module exists: the OS-level SIGINT handler changes while a search runs."""
    import ctypes
    import threading
    import time

    from rdkit import Chem

    libc = ctypes.CDLL(None)

    class Sigaction(ctypes.Structure):
        _fields_ = [("handler", ctypes.c_void_p), ("mask", ctypes.c_ulong * 16),
                    ("flags", ctypes.c_int), ("restorer", ctypes.c_void_p)]

    def current() -> int:
        old = Sigaction()
        libc.sigaction(2, None, ctypes.byref(old))
        return old.handler

    chain = Chem.MolFromSmiles("C" * 300)
    pattern = Chem.MolFromSmarts("[#6]~[#6]~[#6]~[#6]~[#6]~[#6]~[#6]")
    before = current()
    seen = set()
    worker = threading.Thread(target=lambda: [chain.GetSubstructMatches(
        pattern, maxMatches=50_000, uniquify=False) for _ in range(15)])
    worker.start()
    while worker.is_alive():
        seen.add(current())
        time.sleep(0.0005)
    assert current() == before and seen - {before}


def test_rdkit_interrupt_message_raises_keyboard_interrupt():
    hook_rdkit()
    raise_if_interrupted()  # nothing recorded: no-op
    logging.getLogger("rdkit").warning(f"{RDKIT_INTERRUPTED}, result may not include all matches")
    with pytest.raises(KeyboardInterrupt):
        raise_if_interrupted()
    raise_if_interrupted()  # consumed


def test_an_interrupted_component_is_not_cached(tmp_path, library, monkeypatch):
    from featurizers.anion import AnionFeaturizer

    featurizer = AnionFeaturizer(library=library, cache_dir=str(tmp_path)).fit()
    real = AnionFeaturizer.featurize

    def interrupted(self, component):
        vector = real(self, component)
        logging.getLogger("rdkit").warning(f"{RDKIT_INTERRUPTED}, result may not include all")
        return np.zeros_like(vector)  # what a cut-short search could give

    monkeypatch.setattr(AnionFeaturizer, "featurize", interrupted)
    with pytest.raises(KeyboardInterrupt):
        featurizer.transform(["TFSI", "PF6"])
    monkeypatch.undo()
    cold = AnionFeaturizer(library=library, use_cache=False).fit().transform(["TFSI", "PF6"])
    again = AnionFeaturizer(library=library, cache_dir=str(tmp_path)).fit().transform(
        ["TFSI", "PF6"])
    assert np.array_equal(cold, again, equal_nan=True) and np.abs(again).sum() > 0
