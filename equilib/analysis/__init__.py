"""Analysis: intervals over seeds, the verdict rules, the paper's claims and the beyond page's studies."""
