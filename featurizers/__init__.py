"""Featurizers: turn resolved components (anions, solvents/additives, coatings) into numbers.

:mod:`screen.data.structures` builds the structure objects every featurizer starts from.
"""
