"""Screening: candidate libraries (enumerate, read, check), ranking (Pareto layers,
desirability, exact streaming top-K), explanations, formulation design and the HTML report."""
