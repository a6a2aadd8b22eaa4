"""French labels for the codes found in the published tables (scopes, buyer categories, departments, CPV divisions).

Codes without a label are shown as they are: a label is a convenience for the reader, never a requirement.
"""

from __future__ import annotations

SCOPES = ("etat", "etat_operateurs", "etat_operateurs_hopitaux", "tous_acheteurs")

SCOPE_LABELS = {
    "etat": "État",
    "etat_operateurs": "État et opérateurs",
    "etat_operateurs_hopitaux": "État, opérateurs et hôpitaux",
    "tous_acheteurs": "Tous acheteurs",
}

SCOPE_DESCRIPTIONS = {
    "etat": "les services de l'État (administrations centrales et déconcentrées)",
    "etat_operateurs": "l'État et ses établissements publics nationaux (EPA, EPSCP, EPST, EPIC nationaux)",
    "etat_operateurs_hopitaux": "l'État, ses opérateurs et les hôpitaux publics : le périmètre historique de "
                                "l'objectif de 2 %",
    "tous_acheteurs": "tous les acheteurs publics présents dans les données, collectivités comprises",
}

CATEGORY_LABELS = {
    "etat": "État",
    "operateur_etat": "Opérateurs de l'État",
    "hopital": "Hôpitaux publics",
    "collectivite": "Collectivités",
    "autre": "Autres acheteurs",
}

BREAKDOWN_LABELS = {
    "ministere": "ministère",
    "acheteur_categorie": "catégorie d'acheteur",
    "departement": "département du lieu d'exécution",
    "division_cpv": "division CPV (type d'achat)",
    "procedure": "procédure de passation",
}

NOT_FILLED = "non renseigne"  # the pipeline writes it unaccented

CARD_METHODS = {
    "final": "Décision publiée (règles + modèle de texte)",
    "regles_v1": "Règles v1 seules (écrites avant le jeu étiqueté)",
    "mots_cles": "Mots-clés seuls (dictionnaire naïf)",
    "declare": "Déclaration de l'acheteur (marcheInnovant)",
}

DEPARTEMENTS = {
    "01": "Ain", "02": "Aisne", "03": "Allier", "04": "Alpes-de-Haute-Provence", "05": "Hautes-Alpes",
    "06": "Alpes-Maritimes", "07": "Ardèche", "08": "Ardennes", "09": "Ariège", "10": "Aube", "11": "Aude",
    "12": "Aveyron", "13": "Bouches-du-Rhône", "14": "Calvados", "15": "Cantal", "16": "Charente",
    "17": "Charente-Maritime", "18": "Cher", "19": "Corrèze", "2A": "Corse-du-Sud", "2B": "Haute-Corse",
    "21": "Côte-d'Or", "22": "Côtes-d'Armor", "23": "Creuse", "24": "Dordogne", "25": "Doubs", "26": "Drôme",
    "27": "Eure", "28": "Eure-et-Loir", "29": "Finistère", "30": "Gard", "31": "Haute-Garonne", "32": "Gers",
    "33": "Gironde", "34": "Hérault", "35": "Ille-et-Vilaine", "36": "Indre", "37": "Indre-et-Loire",
    "38": "Isère", "39": "Jura", "40": "Landes", "41": "Loir-et-Cher", "42": "Loire", "43": "Haute-Loire",
    "44": "Loire-Atlantique", "45": "Loiret", "46": "Lot", "47": "Lot-et-Garonne", "48": "Lozère",
    "49": "Maine-et-Loire", "50": "Manche", "51": "Marne", "52": "Haute-Marne", "53": "Mayenne",
    "54": "Meurthe-et-Moselle", "55": "Meuse", "56": "Morbihan", "57": "Moselle", "58": "Nièvre", "59": "Nord",
    "60": "Oise", "61": "Orne", "62": "Pas-de-Calais", "63": "Puy-de-Dôme", "64": "Pyrénées-Atlantiques",
    "65": "Hautes-Pyrénées", "66": "Pyrénées-Orientales", "67": "Bas-Rhin", "68": "Haut-Rhin", "69": "Rhône",
    "70": "Haute-Saône", "71": "Saône-et-Loire", "72": "Sarthe", "73": "Savoie", "74": "Haute-Savoie",
    "75": "Paris", "76": "Seine-Maritime", "77": "Seine-et-Marne", "78": "Yvelines", "79": "Deux-Sèvres",
    "80": "Somme", "81": "Tarn", "82": "Tarn-et-Garonne", "83": "Var", "84": "Vaucluse", "85": "Vendée",
    "86": "Vienne", "87": "Haute-Vienne", "88": "Vosges", "89": "Yonne", "90": "Territoire de Belfort",
    "91": "Essonne", "92": "Hauts-de-Seine", "93": "Seine-Saint-Denis", "94": "Val-de-Marne", "95": "Val-d'Oise",
    "971": "Guadeloupe", "972": "Martinique", "973": "Guyane", "974": "La Réunion", "976": "Mayotte",
}

# CPV 2008 divisions (first two digits of the code), shortened.
CPV_DIVISIONS = {
    "03": "Produits agricoles et de la pêche", "09": "Produits pétroliers, combustibles, électricité",
    "14": "Produits miniers et métaux de base", "15": "Produits alimentaires et boissons",
    "16": "Machines agricoles", "18": "Vêtements, chaussures, bagages", "19": "Cuir, textiles, plastiques",
    "22": "Imprimés et produits connexes", "24": "Produits chimiques",
    "30": "Matériel de bureau et informatique", "31": "Machines et appareils électriques",
    "32": "Équipements de radio, télévision, télécommunication", "33": "Matériel médical et pharmaceutique",
    "34": "Équipements de transport", "35": "Équipements de sécurité et de défense",
    "37": "Instruments de musique, sport, jeux", "38": "Matériel de laboratoire, d'optique et de précision",
    "39": "Mobilier, électroménager, produits d'entretien", "41": "Eau collectée et purifiée",
    "42": "Machines industrielles", "43": "Machines pour les mines et le bâtiment",
    "44": "Structures et matériaux de construction", "45": "Travaux de construction",
    "48": "Logiciels et systèmes d'information", "50": "Réparation et entretien", "51": "Services d'installation",
    "55": "Hôtellerie, restauration, commerce de détail", "60": "Services de transport",
    "63": "Services auxiliaires des transports, voyages", "64": "Postes et télécommunications",
    "65": "Services publics (eau, énergie)", "66": "Services financiers et d'assurance",
    "70": "Services immobiliers", "71": "Architecture, ingénierie, contrôle", "72": "Services informatiques",
    "73": "Recherche et développement", "75": "Administration publique, défense, sécurité sociale",
    "76": "Services pétroliers et gaziers", "77": "Services agricoles, forestiers, horticoles",
    "79": "Services aux entreprises (conseil, juridique, marketing…)", "80": "Enseignement et formation",
    "85": "Santé et action sociale", "90": "Eaux usées, déchets, nettoyage, environnement",
    "92": "Loisirs, culture, sport", "98": "Autres services collectifs et personnels",
}


def modality_label(breakdown: str, code: str) -> str:
    """Readable label of a breakdown modality: « 75 Paris », « 73 Recherche et développement », « État »."""
    if code == NOT_FILLED:
        return "non renseigné"
    if breakdown == "acheteur_categorie":
        return CATEGORY_LABELS.get(code, code)
    if breakdown == "departement":
        name = DEPARTEMENTS.get(code)
        return f"{code} {name}" if name else code
    if breakdown == "division_cpv":
        name = CPV_DIVISIONS.get(code)
        return f"{code} {name}" if name else f"{code} (hors CPV 2008)" if code.isdigit() else code
    return code
