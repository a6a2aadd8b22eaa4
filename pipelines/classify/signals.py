"""Catalogue of the innovation signals: stable code -> (French meaning, weight).

The codes are published in `innovation_signaux` and other portals filter on them: never rename one; add a
new code and bump METHOD_VERSION instead. rules.py combines the weights of the codes that fired with a
noisy-OR, score = 1 - prod(1 - w), and the purchase is `innovant` when the rounded score is >= THRESHOLD.

Why these weights (law: CCP L2172-3, R2122-9-1; research: reference/indicators.md §3; real samples: rules.py):
- 0.8 or more: a structured innovation code or a legal/procedural phrase is enough on its own.
- 0.55: an R&D deliverable named as the object (prototype, démonstrateur, preuve de concept). In the real AIFE
  sample every such objet was the making of a new artefact, so this is enough on its own too. Rules v2 add two
  phrases of the same strength, read off the labelled set's positives (rubric items 2 and 3): the object is to
  experiment with or test a solution (texte_experimentation), or to design and build a device
  (texte_conception). Being written from the set they are measured on, their figures there are in-sample: the
  model card says so.
- 0.4: the buyer's own `marcheInnovant`. The 23 records declared innovant in the real 2024 sample are
  ordinary works, cleaning and waste lots, so the flag alone stays below the threshold. Any corroborating
  signal tips it over, because every other positive weight is at least 0.25 (> 1/6).
- 0.25 to 0.35: ambiguous signals (innovation vocabulary, CPV 73, AI vocabulary, the R2122-9-1 legal pattern,
  an R&D direct-award justification, a model/algorithm/simulation code to develop: texte_rd_livrable). Alone they describe contexts far more often than innovative purchases.
  Two of them reach the threshold, except the pairs cpv_rd + r2122_9_1 (0.475) and texte_ia + r2122_9_1
  (0.475): a small direct award of studies, or of an AI tool, is ordinary.
- 0: recorded to explain a decision, never to make it.
"""

from __future__ import annotations

# Version of the whole decision (rules + text model + combination), published with every figure. The rules
# alone keep their own version: "rules alone" is one of the baselines the model card reports.
METHOD_VERSION = "regles-texte-v2"
RULES_VERSION = "regles-v2"

THRESHOLD = 0.5

SIGNALS: dict[str, tuple[str, float]] = {
    # Structured signals, passed through from notice parsers (column `structured_signals`).
    "procedure_partenariat_innovation": (
        "Procédure de partenariat d'innovation (CCP L2172-3, R2172-20 et s. ; eForms BT-105 « innovation », "
        "TED PT_INNOVATION_PARTNERSHIP, BOAMP PARTENARIAT_INNOVATION)",
        0.95,
    ),
    "eforms_inn_pur": ("eForms BT-06 « inn-pur » : l'avis déclare un achat innovant", 0.9),
    "eforms_mar_nov": ("eForms BT-776 « mar-nov » : nouveau ou sensiblement amélioré par rapport au marché", 0.9),
    "eforms_prod_innov": ("eForms BT-776 « prod-innov » : innovation de produit", 0.9),
    "eforms_proc_innov": ("eForms BT-776 « proc-innov » : innovation de procédé", 0.9),
    "eforms_rd_act": (
        "eForms BT-776 « rd-act » : le marché comporte des activités de recherche et développement",
        0.85,
    ),
    "eforms_innov_ancien": (
        "eForms BT-776, code retiré au SDK 1.6 (« buy-eff », « fp-requ », « org-nov », « other ») "
        "dans un avis ancien",
        0.8,
    ),
    "attribution_directe_rd": (
        "Attribution sans mise en concurrence justifiée par la recherche et développement "
        "(eForms BT-136 « rd »/« resd », TED D_PURE_RESEARCH, D_OTHER_SERVICES, D_MANUF_FOR_RESEARCH)",
        0.35,
    ),
    # Signals computed by rules.py.
    "texte_fort": (
        "L'objet cite un marqueur juridique ou procédural d'achat innovant : partenariat d'innovation, achat ou "
        "marché innovant, solution innovante, R2122-9-1, L2172-3, achat public avant commercialisation, "
        "« nouveaux ou sensiblement améliorés », décret 2018-1225, fonds innovation achats",
        0.8,
    ),
    "texte_prototype": (
        "L'objet est un livrable de R&D : prototype, démonstrateur, preuve de concept (POC), niveau TRL, "
        "développement expérimental",
        0.55,
    ),
    "texte_experimentation": (
        "L'objet du marché est d'expérimenter ou de tester une solution, une méthode ou un dispositif "
        "(« a pour objet l'expérimentation et le développement… », « conception et expérimentation… », "
        "« phase d'expérimentation », « ayant pour objet de tester… »)",
        0.55,
    ),
    "texte_conception": (
        "L'objet est la conception et la réalisation (ou le développement, la fabrication) d'un outil, "
        "dispositif, appareil, instrument, banc ou capteur : un artefact fait pour l'acheteur",
        0.55,
    ),
    "declare_innovant": (
        "L'acheteur a déclaré le marché innovant (DECP 2024 marcheInnovant = true) ; déclaration non vérifiée, "
        "insuffisante seule",
        0.4,
    ),
    "texte_moyen": (
        "L'objet emploie un vocabulaire d'innovation ambigu : innovant, innovation, expérimentation, projet "
        "pilote, prototypage, R&D, recherche et développement, co-développement, start-up",
        0.35,
    ),
    "cpv_rd": ("Code CPV de la division 73 (services de recherche et développement et de conseil connexes)", 0.3),
    "texte_ia": (
        "L'objet porte sur l'intelligence artificielle (IA, apprentissage automatique, réseaux de neurones) : "
        "domaine souvent innovant, indice faible",
        0.3,
    ),
    "texte_rd_livrable": (
        "L'objet est le développement d'un modèle, d'un langage, d'un algorithme ou d'un code de calcul, ou un "
        "outil de simulation ou de prédiction : livrable de R&D probable, insuffisant seul (avec un CPV 73 : "
        "innovant)",
        0.3,
    ),
    "r2122_9_1": (
        "Forme juridique de l'achat innovant sans publicité ni mise en concurrence (CCP R2122-9-1) : marché sans "
        "publicité, montant > 0 et < 100 000 € HT, notifié à partir du 25/12/2018",
        0.25,
    ),
    "texte_moyen_cumul": (
        "L'objet combine au moins deux familles du vocabulaire ambigu (innovation, expérimentation ou pilote, "
        "R&D, start-up)",
        0.25,
    ),
    "garde_faux_positif": (
        "Un mot-clé de l'objet a été neutralisé : nom d'entité, de lieu ou d'événement (centre de recherche et "
        "d'innovation, direction de l'innovation, bâtiment Innovation…), clause type (caractère innovant de "
        "l'offre, variantes), thème ou terme fixe (innovation sociale, thérapie innovante, expérimentation animale)",
        0.0,
    ),
    # Signals of the text model (decision.py). Their weight is learned, not a noisy-OR weight: the
    # combination's coefficients are in the model file and on the model card.
    "modele_texte": (
        "Le modèle de texte (TF-IDF des mots de l'objet et régression logistique, entraîné sur le jeu étiqueté de "
        "l'observatoire) juge à lui seul l'objet innovant",
        0.0,
    ),
    "declare_non_innovant": (
        "L'acheteur a déclaré le marché non innovant (DECP 2024 marcheInnovant = false) mais l'observatoire le "
        "classe innovant ; consigné seulement dans ce cas",
        0.0,
    ),
}

# Publication order of the codes in `innovation_signaux`: decreasing weight, then code.
ORDER: tuple[str, ...] = tuple(sorted(SIGNALS, key=lambda code: (-SIGNALS[code][1], code)))
