"""DECP (données essentielles de la commande publique): reading, normalising and consolidating contract awards."""
