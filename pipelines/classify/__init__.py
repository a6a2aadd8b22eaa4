"""Decide whether public purchases are innovative ("achats innovants") and say why.

`classify(df)` returns `innovant`, `innovation_score` and `innovation_signaux` for a DataFrame with an
`objet` column and optional `code_cpv`, `procedure`, `montant`, `date_notification`,
`marche_innovant_declare`, `nature` and `structured_signals`: the rules (rules.py) and the shipped text model
(text_model.py) combined as decision.py says. Plain logic, no Dagster import.
"""

from .decision import classify
from .signals import METHOD_VERSION, RULES_VERSION, SIGNALS, THRESHOLD

__all__ = ["classify", "SIGNALS", "METHOD_VERSION", "RULES_VERSION", "THRESHOLD"]
