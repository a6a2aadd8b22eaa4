"""One spider per source: ``decp`` (data.gouv.fr), ``boamp`` (Opendatasoft), ``ted`` (TED Search API v3)."""
