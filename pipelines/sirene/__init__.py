"""SIRENE enrichment: buyer scope (État, opérateurs, hôpitaux, collectivités) and supplier size (PME/ETI/GE).

Plain module, no Dagster import. With the INSEE stock file (``stock.download_stock``) the legal category
decides; without it, a documented offline fallback (reference table, then SIREN prefix) does, and every row
says which one was used.
"""

from pipelines.sirene.enrich import buyer_scope, supplier_size

__all__ = ["buyer_scope", "supplier_size"]
