"""Models of mgscreen: one module per target (overpotential, cycle life, passivation)."""
