"""Built-in targets, one module each; :mod:`screen.learn.registry` imports every module here.

A module defines a :class:`~screen.learn.registry.Target` subclass (and its CV task) and calls
:func:`~screen.learn.registry.register_target` on it. See ``docs/extending.md``.
"""
