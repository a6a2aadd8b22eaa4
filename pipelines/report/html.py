"""The report page: one self-contained HTML file (inline CSS, inline SVG, no script, no network).

Every value that comes from the data (objets, names, codes, URLs, file paths) goes through ``esc`` or a
formatter; helpers whose name ends in ``_html`` return markup that is already safe to concatenate.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from . import charts, data
from .formatting import (MISSING, NNBSP, as_float, format_bytes, format_date, format_euros, format_integer,
                         format_number, format_percent, format_points, plural)
from .labels import (BREAKDOWN_LABELS, CARD_METHODS, SCOPE_DESCRIPTIONS, SCOPE_LABELS, SCOPES, modality_label)

log = logging.getLogger(__name__)

DEFAULT_LICENCE = "Licence Ouverte / Open Licence 2.0"

# Breakdown charts: (ventilation, scope, how many modalities at most). Ministries are read within the State and
# its operators: elsewhere every buyer falls in « non renseigné », which would hide the ministries' bars.
BREAKDOWNS = (
    ("ministere", "etat_operateurs", data.TOP_MODALITIES),
    ("acheteur_categorie", "tous_acheteurs", None),
    ("departement", "tous_acheteurs", data.TOP_MODALITIES),
    ("division_cpv", "tous_acheteurs", data.TOP_MODALITIES),
    ("procedure", "tous_acheteurs", None),
)

CSS = """
:root{color-scheme:light;--encre:#1e1e1e;--doux:#555;--accent:#0059b3;--fond:#fff;--gris:#f2f3f5;--alerte:#a33c00}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
 line-height:1.5;color:var(--encre);background:var(--fond);font-size:1rem}
header,main,footer{max-width:62rem;margin:0 auto;padding:0 1rem}
header{padding-top:1.5rem}
h1{font-size:1.75rem;line-height:1.2;margin:.2rem 0 .5rem}
h2{font-size:1.4rem;margin:2.5rem 0 .75rem;padding-top:.5rem;border-top:2px solid var(--encre)}
h3{font-size:1.1rem;margin:1.5rem 0 .5rem}
a{color:var(--accent)}
.surtitre{color:var(--doux);margin:0;font-size:.95rem}
nav ol{display:flex;flex-wrap:wrap;gap:.25rem 1rem;padding:0;margin:.75rem 0;list-style:none;font-size:.95rem}
.chiffres{display:flex;flex-wrap:wrap;gap:.75rem;margin:1rem 0}
.chiffre{flex:1 1 13rem;background:var(--gris);border-radius:.5rem;padding:.75rem 1rem}
.chiffre .valeur{display:block;font-size:2.4rem;font-weight:700;line-height:1.1}
.chiffre.cible{background:#fff;border:2px dashed #d55e00}
.chiffre .libelle{display:block;color:var(--doux)}
.avertissement{border-left:4px solid var(--alerte);background:#fff3ea;padding:.5rem .75rem;margin:.75rem 0}
.doux{color:var(--doux)}
td.texte{min-width:15rem}
.nombre small{display:block;white-space:normal;min-width:7rem}
code.empreinte{white-space:nowrap;word-break:normal}
.manque{border-left:4px solid #999;background:var(--gris);padding:.5rem .75rem;margin:.75rem 0}
figure.graphique{margin:1.5rem 0 .5rem}
figure.graphique svg{display:block;width:100%;height:auto;max-width:100%}
figcaption{font-size:.9rem;color:var(--doux);margin-top:.25rem}
details{margin:.25rem 0 1.25rem;font-size:.9rem}
summary{cursor:pointer;color:var(--accent)}
.tableau{overflow-x:auto;-webkit-overflow-scrolling:touch;margin:.5rem 0 1rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}
caption{text-align:left;color:var(--doux);padding:.25rem 0}
th,td{padding:.4rem .5rem;border-bottom:1px solid #d8d8d8;text-align:left;vertical-align:top}
thead th{border-bottom:2px solid var(--encre);white-space:nowrap}
.nombre{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
code{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace;font-size:.85em;word-break:break-all}
dl dt{font-weight:700;margin-top:.5rem}
dl dd{margin:0 0 .25rem 0}
footer{color:var(--doux);font-size:.85rem;margin-top:3rem;padding-bottom:2rem;border-top:1px solid #ccc}
@media (max-width:40rem){h1{font-size:1.4rem}.chiffre .valeur{font-size:2rem}th,td{padding:.3rem}}
@media print{nav,details{display:none}h2{break-before:auto}figure{break-inside:avoid}}
"""


def esc(value: object) -> str:
    """Text from the data, escaped for an HTML element or a quoted attribute."""
    if value is None or (not isinstance(value, str) and pd.api.types.is_scalar(value) and pd.isna(value)):
        return ""
    # Every attribute of the page is double-quoted: escaping « " » (not « ' ») is enough and keeps French
    # apostrophes readable in the source.
    return html.escape(str(value), quote=False).replace('"', "&quot;")


def missing_html(sentence: str) -> str:
    return f'<p class="manque">{sentence}</p>'


def table_html(headers: list[tuple[str, str]], rows: list[list[str]], caption: str = "") -> str:
    """A scrollable table. ``headers``: (label, css class); ``rows``: cells already escaped/formatted."""
    head = "".join(f'<th scope="col"{_cls(css)}>{label}</th>' for label, css in headers)
    body = "\n".join(
        "<tr>" + "".join(f"<td{_cls(css)}>{cell}</td>" for (_, css), cell in zip(headers, cells)) + "</tr>"
        for cells in rows)
    cap = f"<caption>{caption}</caption>" if caption else ""
    return f'<div class="tableau"><table>{cap}<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table></div>'


def _cls(css: str) -> str:
    return f' class="{css}"' if css else ""


def figure_html(name: str, svg: str, label: str, caption_html: str) -> str:
    return (f'<figure class="graphique" data-chart="{esc(name)}" role="img" aria-label="{esc(label)}">\n'
            f"{svg}\n<figcaption>{caption_html}</figcaption>\n</figure>")


def details_html(summary: str, content: str) -> str:
    return f"<details><summary>{summary}</summary>{content}</details>"


def local_link_html(folder: Path, path: object, text: str | None = None) -> str:
    """A link to a file of the publication when it is a plain relative path to an existing file; else the path
    as text (a link must never point outside the folder nor to a missing file)."""
    relative = str(path or "")
    label = esc(text if text is not None else relative)
    parts = Path(relative).parts
    safe = (relative and not relative.startswith(("/", "\\")) and "://" not in relative and ".." not in parts
            and ":" not in relative)
    if not safe or not (folder / relative).is_file():
        return label
    return f'<a href="{esc(quote(relative, safe="/"))}">{label}</a>'


def external_link_html(url: object, text: object) -> str:
    """A link to an outside source, only for http(s) addresses (never ``javascript:`` from the data)."""
    address = str(url or "").strip()
    if not re.match(r"^https?://[^\s<>\"']+$", address):
        return esc(text)
    return f'<a href="{esc(address)}" rel="noopener noreferrer">{esc(text)}</a>'


# --- Headline ---------------------------------------------------------------------------------------------------

def headline_section(ind: pd.DataFrame) -> str:
    head = data.headline(ind)
    parts = ['<section id="chiffre-cle" aria-labelledby="titre-chiffre-cle">',
             '<h2 id="titre-chiffre-cle">Le chiffre clé : la part d\'achats innovants de l\'État</h2>']
    if head.year is None:
        parts.append(missing_html(
            "Aucun marché des services de l'État n'est présent dans les données publiées : la part d'achats "
            "innovants de l'État ne peut pas être calculée."))
        parts.append("</section>")
        return "\n".join(parts)
    parts += _headline_figures(head)
    parts.append("</section>")
    return "\n".join(parts)


def _headline_figures(head: data.Headline) -> list[str]:
    amount, count, year = head.amount or {}, head.count or {}, head.year
    target = as_float(amount.get("cible")) or as_float(count.get("cible")) or data.TARGET_OBJECT
    contracts = as_float(count.get("nb_marches")) or as_float(amount.get("nb_marches")) or 0
    out = [f'<p class="surtitre">Services de l\'État, marchés notifiés en {year} — famille « objet innovant » '
           "(l'achat lui-même est innovant)</p>",
           '<div class="chiffres">',
           _big_number(format_percent(amount.get("valeur")), "du montant attribué est innovant"),
           _big_number(format_percent(count.get("valeur")), "des marchés sont innovants (en nombre)"),
           _big_number(format_percent(target), "cible", "chiffre cible"),
           "</div>"]
    out.append(f"<p>{_headline_sentence(amount, count, target)}</p>")
    out.append(f"<p>Couverture : objet renseigné pour {format_percent(count.get('couverture'))} des marchés, "
               f"montant utilisable pour {format_percent(amount.get('couverture'))}.</p>")
    if contracts < data.SMALL_SAMPLE:
        out.append(f'<p class="avertissement">Attention : seulement {plural(contracts, "marché", "marchés")} '
                   f"de l'État en {year} dans les données ; un marché de plus ou de moins change nettement la "
                   "part.</p>")
    if head.later_years:
        later = ", ".join(f"{plural(n, 'marché', 'marchés')} en {y}" for y, n in head.later_years)
        out.append(missing_html(f"Aucun marché de l'État n'est notifié après {year} dans les données (on y "
                                f"trouve, tous acheteurs confondus, {later}) : le chiffre porte sur {year}, "
                                "dernière année où l'État en a."))
    out.append("<p>Ce chiffre compte les achats dont l'objet est innovant (art. L2172-3). Les chiffres officiels "
               "publiés depuis 2021 comptent autre chose : les achats auprès de PME innovantes "
               '(voir <a href="#methode">la méthode</a> et <a href="#chiffres-officiels">la comparaison</a>).</p>')
    return out


def _big_number(value: str, label: str, css: str = "chiffre") -> str:
    return f'<div class="{css}"><span class="valeur">{value}</span><span class="libelle">{label}</span></div>'


def _headline_sentence(amount: dict, count: dict, target: float) -> str:
    innovative = plural(count.get("numerateur"), "marché innovant", "marchés innovants")
    sentence = (f"{innovative} sur {format_integer(count.get('denominateur'))} ; "
                f"{format_euros(amount.get('numerateur'))} sur {format_euros(amount.get('denominateur'))} "
                "attribués.")
    share = as_float(amount.get("valeur"))
    if share is None:
        return sentence + " La part en montant n'est pas calculable (aucun montant utilisable)."
    gap = share - target
    if abs(gap) < 5e-5:
        return sentence + f" En montant, la part atteint la cible de {format_percent(target)}."
    side = "sous" if gap < 0 else "au-dessus de"
    return sentence + f" En montant, {format_points(abs(gap)).lstrip('+')} {side} la cible de {format_percent(target)}."


# --- Trends -----------------------------------------------------------------------------------------------------

def trend_section(ind: pd.DataFrame) -> str:
    parts = ['<section id="evolution" aria-labelledby="titre-evolution">',
             '<h2 id="titre-evolution">Évolution par année et par périmètre</h2>',
             "<p>Part du montant attribué, année par année, pour chacun des quatre périmètres d'acheteurs "
             "(emboîtés : l'État ; plus ses opérateurs ; plus les hôpitaux ; tous les acheteurs), face à la cible. "
             "Un point creux signale une année avec peu de marchés : sa part est fragile.</p>"]
    objet = data.trend(ind, "objet_innovant", "part_montant")
    if objet:
        parts.append(_trend_figure(ind, "tendance-objet", "objet_innovant", objet,
                                   "Achats dont l'objet est innovant : part du montant attribué",
                                   "famille « objet innovant », mesure part_montant"))
    else:
        parts.append(missing_html("Aucune part « objet innovant » n'est calculable : les données ne contiennent "
                                  "aucune année avec des montants utilisables."))
    parts.append(_supplier_trend(ind))
    parts.append("</section>")
    return "\n".join(parts)


def _supplier_trend(ind: pd.DataFrame) -> str:
    choice = data.supplier_measure(ind)
    if choice.measure is None:
        why = ("aucune ligne de cette famille n'est publiée" if choice.reason == "rows_missing" else
               "aucune liste de PME innovantes n'est fournie et la taille des titulaires (SIRENE) n'est pas connue, "
               "même pour la borne haute « achats auprès de PME »")
        return missing_html(f"Famille « fournisseur innovant » (achats auprès de PME innovantes, le sens des "
                            f"chiffres officiels) : pas de courbe, {why}.")
    series = data.trend(ind, "fournisseur_innovant", choice.measure)
    if choice.measure == "part_montant":
        title = "Achats auprès de PME innovantes : part du montant attribué"
        note = "famille « fournisseur innovant », mesure part_montant (liste de PME innovantes fournie)"
        intro = ""
    else:
        title = "Borne haute : part du montant attribuée à des PME (de toute sorte)"
        note = "famille « fournisseur innovant », mesure part_montant_pme (borne haute)"
        intro = ("<p>Aucune liste ouverte de PME innovantes n'est fournie : la courbe suivante montre la part "
                 "attribuée à des PME de toute sorte (taille SIRENE), <strong>borne haute</strong> de la part "
                 "« PME innovantes » ; la vraie part est plus basse.</p>")
    return intro + _trend_figure(ind, "tendance-fournisseur", "fournisseur_innovant", series, title, note)


def _target_label(targets: dict[int, float]) -> str:
    """« cible 2 % » or, when it changes, « cible : 2 % jusqu'en 2022, 4 % à partir de 2023 »."""
    segments: list[list] = []
    for year in sorted(targets):
        if segments and segments[-1][2] == targets[year]:
            segments[-1][1] = year
        else:
            segments.append([year, year, targets[year]])
    if len(segments) == 1:
        return f"cible {format_percent(segments[0][2])}"
    pieces = []
    for index, (first, last, value) in enumerate(segments):
        if index == 0:
            pieces.append(f"{format_percent(value)} jusqu'en {last}")
        elif index == len(segments) - 1:
            pieces.append(f"{format_percent(value)} à partir de {first}")
        else:
            pieces.append(f"{format_percent(value)} de {first} à {last}")
    return "cible : " + ", ".join(pieces)


def _trend_figure(ind: pd.DataFrame, name: str, family: str, series: dict, title: str, note: str) -> str:
    years = sorted({y for points in series.values() for y, _, _ in points})
    goal = data.targets(ind, family, years)
    target_label = _target_label(goal)
    description = (f"{title}, par année de notification, pour {len(series)} périmètre(s), face à la {target_label}. "
                   + " ".join(f"{SCOPE_LABELS.get(s, s)} : "
                              + " ; ".join(f"{y} {format_percent(v)}" for y, v, _ in points) + "."
                              for s, points in series.items()))
    latest = max(years)
    label = (f"{title} ({target_label}). En {latest} : "
             + ", ".join(f"{SCOPE_LABELS.get(s, s)} {format_percent(v)}"
                         for s, points in series.items() for y, v, _ in points if y == latest) + ".")
    svg = charts.trend_chart(name, title, description, series, SCOPE_LABELS, goal, target_label, data.SMALL_SAMPLE)
    caption = (f"{esc(title)}, {esc(target_label)}. Source : <code>data/indicateurs.csv</code>, {esc(note)}, "
               "ventilation « ensemble ». Montants attribués, pas des paiements.")
    headers = [("Année", "")] + [(esc(SCOPE_LABELS.get(s, s)), "nombre") for s in series] + [("Cible", "nombre")]
    values = {s: {y: (v, n) for y, v, n in points} for s, points in series.items()}
    rows = []
    for year in years:
        cells = [str(year)]
        for scope in series:
            value = values[scope].get(year)
            cells.append(f"{format_percent(value[0])} ({format_integer(value[1])})" if value else MISSING)
        cells.append(format_percent(goal.get(year)))
        rows.append(cells)
    table = table_html(headers, rows, "Part du montant (entre parenthèses : nombre de marchés de l'année)")
    return figure_html(name, svg, label, caption) + "\n" + details_html("Les chiffres du graphique", table)


# --- Breakdowns -------------------------------------------------------------------------------------------------

def breakdown_section(ind: pd.DataFrame) -> str:
    year = data.reference_year(ind)
    parts = ['<section id="ventilations" aria-labelledby="titre-ventilations">',
             f'<h2 id="titre-ventilations">Qui achète innovant ? Ventilations {esc(year) if year else ""}</h2>']
    if year is None:
        parts.append(missing_html("Aucune année avec des marchés dans les données : pas de ventilation."))
        parts.append("</section>")
        return "\n".join(parts)
    parts.append(f"<p>Marchés notifiés en {year} (l'année du chiffre clé). Chaque barre donne la part des marchés "
                 "décidés innovants, en nombre ; à droite de la barre : cette part, puis le nombre de marchés "
                 "innovants sur le nombre de marchés de la catégorie. Une catégorie de quelques marchés peut "
                 "afficher une part élevée par hasard.</p>")
    target = data.targets(ind, "objet_innovant", [year]).get(year, data.TARGET_OBJECT)
    for name, scope, top in BREAKDOWNS:
        parts.append(_breakdown_figure(ind, name, scope, year, top, target))
    parts.append("</section>")
    return "\n".join(parts)


def _breakdown_title(name: str, scope: str, year: int, shown: int, total: int) -> str:
    scope_label = SCOPE_LABELS.get(scope, scope)
    if name == "departement":
        what = f"Départements ({shown} premiers par nombre de marchés)" if total > shown else "Départements"
    elif name == "division_cpv":
        what = f"Types d'achat, division CPV ({shown} premières par nombre de marchés)" if total > shown \
            else "Types d'achat, division CPV"
    elif total > shown:
        what = f"Par {BREAKDOWN_LABELS[name]} ({shown} premiers par nombre de marchés)"
    else:
        what = f"Par {BREAKDOWN_LABELS[name]}"
    return f"{what} — {scope_label}, {year}"


def _breakdown_figure(ind: pd.DataFrame, name: str, scope: str, year: int, top: int | None, target: float) -> str:
    rows, total = data.breakdown(ind, name, scope, year, top)
    label_name = "départements" if name == "departement" else BREAKDOWN_LABELS[name]
    if rows.empty:
        return missing_html(f"Pas de ventilation par {esc(label_name)} pour {year} "
                            f"({esc(SCOPE_LABELS.get(scope, scope))}) dans les données.")
    title = _breakdown_title(name, scope, year, len(rows), total)
    labels = [modality_label(name, m) for m in rows["modalite"]]
    shares = [as_float(v) for v in rows["valeur"]]
    annotations = [f"{format_percent(v)} · {plural(n, 'innovant', 'innovants')} sur {format_integer(d)}"
                   for v, n, d in zip(rows["valeur"], rows["numerateur"], rows["denominateur"])]
    description = (f"Barres horizontales : part des marchés décidés innovants (en nombre) par {label_name}, "
                   f"{SCOPE_LABELS.get(scope, scope)}, {year} ; cible {format_percent(target)}. "
                   + " ; ".join(f"{lab} : {ann}" for lab, ann in zip(labels, annotations)) + ".")
    best = max(zip(shares, labels), key=lambda p: (p[0] or 0.0, p[1]))
    label = (f"{title}. Part la plus élevée : {best[1]} ({format_percent(best[0])}) ; "
             f"cible {format_percent(target)}.")
    svg = charts.bar_chart(f"ventilation-{name}", title, description, labels, shares, annotations, target)
    extra = ""
    if total > len(rows):
        extra = f" {len(rows)} catégories sur {total}, celles qui comptent le plus de marchés."
    if name == "ministere":
        extra += (" Un acheteur n'est rattaché à un ministère que lorsque c'est établi, jamais deviné ; "
                  "les autres sont « non renseigné ».")
    caption = (f"{esc(title)}. Part des marchés décidés innovants, en nombre.{esc(extra)} Source : "
               f"<code>data/indicateurs.csv</code>, ventilation « {esc(name)} », mesure part_nombre.")
    return figure_html(f"ventilation-{name}", svg, label, caption)


# --- Top buyers -------------------------------------------------------------------------------------------------

def buyers_section(ind: pd.DataFrame, marches: pd.DataFrame | None) -> str:
    year = data.reference_year(ind)
    used, table = data.top_buyers(ind, year)
    parts = ['<section id="acheteurs" aria-labelledby="titre-acheteurs">',
             '<h2 id="titre-acheteurs">Les acheteurs au plus fort montant innovant</h2>']
    if used is None or table.empty:
        parts.append(missing_html("Aucun acheteur n'a de marché décidé innovant dans les données "
                                  "(ventilation « acheteur » vide) : pas de tableau."))
        parts.append("</section>")
        return "\n".join(parts)
    if year is not None and used != year:
        parts.append(missing_html(f"En {year}, aucun acheteur n'a de marché décidé innovant dans les données ; "
                                  f"le tableau montre {used}, dernière année où il y en a."))
    names = data.buyer_names(marches, list(table["siret"]))
    unnamed = '<span class="doux">nom non publié</span>'
    rows = []
    for rank, item in enumerate(table.itertuples(index=False), start=1):
        rows.append([str(rank), f"<code>{esc(item.siret)}</code>", esc(names.get(item.siret, "")) or unnamed,
                     format_euros(item.montant_innovant), format_percent(item.part_montant),
                     f"{format_integer(item.nb_innovants)} sur {format_integer(item.nb_marches)}"])
    headers = [("Rang", "nombre"), ("SIRET", ""), ("Acheteur", ""), ("Montant innovant", "nombre"),
               ("Part de son montant", "nombre"), ("Marchés innovants", "nombre")]
    caption = (f"Tous acheteurs, marchés notifiés en {used}, classés par montant innovant (au plus 20). Montants "
               "attribués (souvent des maximums d'accords-cadres), pas des paiements ; nom tel que publié.")
    parts.append(table_html(headers, rows, caption))
    parts.append("</section>")
    return "\n".join(parts)


# --- Methodology ------------------------------------------------------------------------------------------------

def method_section(folder: Path, card: dict | None) -> str:
    scopes = "".join(f"<li><strong>{esc(SCOPE_LABELS[s])}</strong> (<code>{s}</code>) : "
                     f"{esc(SCOPE_DESCRIPTIONS[s])}</li>" for s in SCOPES)
    card_link = local_link_html(folder, "methode/carte-modele.md", "la carte du modèle")
    return "\n".join([
        '<section id="methode" aria-labelledby="titre-methode">',
        '<h2 id="titre-methode">Méthode</h2>',
        "<h3>Qu'est-ce qu'un achat innovant ?</h3>",
        "<p>Le Code de la commande publique (article L2172-3) définit les achats innovants comme des travaux, "
        "fournitures ou services <strong>nouveaux ou sensiblement améliorés</strong> : c'est l'objet acheté qui doit "
        "l'être. Pour chaque marché, l'observatoire décide « innovant » ou non à partir de l'objet du marché et des "
        "champs structurés (procédure, codes d'innovation des avis européens, CPV), par des règles pondérées "
        "combinées à un modèle de texte (méthode <code>regles-texte-v2</code>).</p>",
        "<h3>Deux sens de la cible de 2 %</h3>",
        "<ul><li><strong>Achats auprès de PME innovantes</strong> (famille « fournisseur innovant ») : le Pacte "
        "national pour la croissance (2012, mesure 32) visait 2 % de la commande publique de l'État, de ses "
        "opérateurs et des hôpitaux auprès des PME et ETI de croissance innovantes ; la Direction des achats de "
        "l'État vise depuis 2023 4 % d'achats auprès de PME innovantes en 2027. Les chiffres officiels publiés "
        "depuis 2021 sont tous de ce type.</li>"
        "<li><strong>Achats dont l'objet est innovant</strong> (famille « objet innovant ») : la même cible a aussi "
        "été dite « 2 % des achats civils de l'État et de ses établissements publics sont des achats innovants ». "
        "C'est le chiffre clé de cette page.</li></ul>"
        "<p>Aucune liste ouverte des PME innovantes n'existe : la famille « fournisseur innovant » n'est chiffrée "
        "que si une liste est fournie ; sinon l'observatoire publie la part des achats auprès de PME de toute "
        "sorte, qui en est la borne haute. La page dit toujours quelle famille est chiffrée.</p>",
        "<h3>Périmètres d'acheteurs</h3>",
        f"<ul>{scopes}</ul>",
        "<p>La catégorie de chaque acheteur vient de sa catégorie juridique SIRENE quand le répertoire est "
        "disponible, sinon d'une table de référence ou, à défaut, des premiers chiffres du SIREN (approximation) : "
        "la méthode est donnée ligne par ligne dans <code>marches</code> et dans la colonne <code>methode</code> "
        "des indicateurs.</p>",
        "<h3>Ce qui est compté, et ce qui ne l'est pas</h3>",
        "<ul><li>Les <strong>marchés</strong> publiés dans les données essentielles de la commande publique (DECP) "
        "dont l'année de notification est connue ; les <strong>concessions</strong> sont publiées à part et "
        "n'entrent pas dans la mesure.</li>"
        "<li>Des <strong>montants attribués, pas des paiements</strong> : pour un accord-cadre, c'est souvent le "
        "maximum prévu ; les sommes surestiment la dépense.</li>"
        f"<li>Les <strong>montants aberrants</strong> (hors de [200{NNBSP}€ ; 999{NNBSP}999{NNBSP}999{NNBSP}€]) "
        "restent dans les données mais sont exclus des mesures en euros.</li>"
        "<li>La <strong>déclaration de l'acheteur</strong> (<code>marcheInnovant</code>, format 2024) est publiée à "
        "part : c'est une entrée du calcul, pas la vérité.</li></ul>",
        "<h3>Pourquoi un marché est dit innovant</h3>",
        "<p>Chaque marché porte, dans la colonne <code>innovation_signaux</code>, les codes qui justifient la "
        "décision : procédure de partenariat d'innovation, codes d'innovation des avis eForms, marqueur juridique "
        "dans l'objet (« partenariat d'innovation », « solution innovante », article R2122-9-1…), prototype ou "
        "démonstrateur, expérimentation, déclaration de l'acheteur (insuffisante seule), gardes contre les faux "
        "positifs (« Centre de recherche… »). Le catalogue complet, avec les poids, est dans le README du projet, "
        "section « Comment « innovant » est décidé ».</p>",
        _card_html(card, card_link),
        "<h3>Limites des données (à lire avant de citer un chiffre)</h3>",
        "<ul><li><strong>Couverture</strong> : les DECP ne couvrent que les marchés à partir de 40 000 € HT "
        "(25 000 € en 2019) et une partie des acheteurs publient mal ou pas ; une année avec peu de marchés donne "
        "une part fragile.</li>"
        "<li>La décision ne lit que l'objet du marché (souvent court) et les champs structurés.</li>"
        "<li>La déclaration <code>marcheInnovant</code> est bruitée : les marchés déclarés innovants sont surtout "
        "des lots de travaux ordinaires ; elle n'existe que depuis le format 2024.</li>"
        "<li>Un marché = SIRET de l'acheteur + identifiant : en cas de doublon d'identifiant, un seul lot est gardé "
        "(les autres sont dans <code>rejets</code>) ; au format 2019, un marché modifié peut être compté deux "
        "fois.</li>"
        "<li>Le montant d'un marché à plusieurs titulaires est partagé à parts égales entre eux (famille "
        "« fournisseur innovant »).</li></ul>",
        "</section>",
    ])


def _card_html(card: dict | None, card_link: str) -> str:
    head = "<h3>Qualité mesurée de la décision</h3>"
    if not isinstance(card, dict):
        return head + missing_html("La carte du modèle n'est pas fournie avec cette publication : la précision et "
                                   "le rappel de la décision ne peuvent pas être affichés ici.")
    measures = [m for m in card.get("mesures") or [] if isinstance(m, dict) and m.get("perimetre") == "ensemble"]
    by_method = {m.get("methode"): m for m in measures}
    rows = [[esc(label), format_percent(m.get("precision"), 1), format_percent(m.get("rappel"), 1),
             format_percent(m.get("f1"), 1)]
            for method, label in CARD_METHODS.items() if (m := by_method.get(method)) is not None]
    labelled = card.get("jeu_etiquete") if isinstance(card.get("jeu_etiquete"), dict) else {}
    records, positives = labelled.get("enregistrements"), labelled.get("positifs")
    intro = (f"<p>Mesure sur le jeu étiqueté de l'équipe ({esc(plural(records, 'enregistrement', 'enregistrements'))}"
             f" réels dont {esc(plural(positives, 'innovant', 'innovants'))}), {esc(card.get('validation', ''))} ; "
             f"carte du {esc(format_date(card.get('date')))}, méthode <code>{esc(card.get('version_methode', ''))}"
             f"</code>. Détail : {card_link}.</p>")
    if rows:
        table = table_html([("Méthode", ""), ("Précision", "nombre"), ("Rappel", "nombre"), ("F1", "nombre")], rows,
                           "Précision : part des marchés dits innovants qui le sont ; rappel : part des marchés "
                           "innovants retrouvés ; F1 : moyenne des deux.")
    else:
        table = missing_html("La carte du modèle ne contient pas de mesure d'ensemble.")
    outside = card.get("hors_jeu") if isinstance(card.get("hors_jeu"), dict) else {}
    extra = ""
    if outside.get("enregistrements") is not None and outside.get("ajoutes_par_v2") is not None:
        extra = (f" Sur les {esc(format_integer(outside['enregistrements']))} objets réels hors du jeu étiqueté, "
                 f"les règles v2 ajoutent {esc(format_integer(outside['ajoutes_par_v2']))} décision(s) « innovant » "
                 "à celles des règles v1.")
    caveat = ("<p class=\"avertissement\"><strong>À lire avant de citer ces chiffres.</strong> Les signaux ajoutés "
              "aux règles v2 ont été écrits en lisant les positifs de ce jeu étiqueté : leurs chiffres y sont mesurés "
              "sur les exemples dont ils viennent, ce que la validation croisée ne corrige pas. "
              f"Avec {esc(plural(positives, 'positif', 'positifs'))} seulement, un faux positif ou un faux négatif de "
              f"plus déplace la précision ou le rappel de plusieurs points.{extra} Leur précision sur d'autres données "
              "reste à mesurer.</p>")
    return head + intro + table + caveat


# --- Official figures -------------------------------------------------------------------------------------------

def _value_in_unit(value: object, unit: object) -> str:
    if unit == "part":
        return format_percent(value)
    if unit == "euros":
        return format_euros(value)
    if unit == "marches":
        return plural(value, "marché", "marchés") if as_float(value) is not None else MISSING
    return format_number(value, 2)


def _difference_in_unit(value: object, unit: object) -> str:
    if unit == "part":
        return format_points(value)
    if unit == "euros":
        return format_euros(value, signed=True)
    return format_number(value, 0, signed=True)


QUALITY_COLUMNS = [("lus", "lus"), ("gardes", "gardés"), ("fusionnes", "fusionnés"), ("rejetes", "rejetés"),
                   ("fichier_rejete", "fichiers rejetés"), ("montants_hors_plage", "montants hors plage"),
                   ("publication_plus_62_jours", "publiés plus de 62 jours après la notification"),
                   ("publication_avant_notification", "publiés avant la notification")]


def quality_section(qualite: pd.DataFrame | None) -> str:
    """Per source: what was read and what became of it (data/qualite.csv has the detail per file)."""
    parts = ['<section id="qualite" aria-labelledby="titre-qualite">',
             '<h2 id="titre-qualite">Ce que les fichiers contenaient : qualité des données</h2>']
    if qualite is None or not isinstance(qualite, pd.DataFrame) or qualite.empty:
        parts += [missing_html("Le rapport de qualité (<code>qualite</code>) est vide ou absent."), "</section>"]
        return "\n".join(parts)
    totals = qualite[qualite["fichier"].astype(str) == "*"]
    values = pd.to_numeric(totals["valeur"], errors="coerce")
    pivot = totals.assign(valeur=values).pivot_table(index="source", columns="indicateur", values="valeur",
                                                    aggfunc="sum")
    rows = [[esc(source)] + [format_integer(pivot.at[source, key]) if key in pivot and pd.notna(pivot.at[source, key])
                             else "0" for key, _ in QUALITY_COLUMNS] for source in pivot.index]
    parts.append("<p>Chaque enregistrement lu est gardé, fusionné avec une autre publication du même marché ou avis, "
                 "ou rejeté avec son motif : rien n'est perdu en silence. Le détail par fichier, par motif de rejet "
                 "et par champ manquant est dans <code>data/qualite.csv</code>.</p>")
    parts.append(table_html([("source", "")] + [(esc(label), "nombre") for _, label in QUALITY_COLUMNS], rows,
                            "Enregistrements par source"))
    parts.append("</section>")
    return "\n".join(parts)


def references_section(references: pd.DataFrame | None) -> str:
    parts = ['<section id="chiffres-officiels" aria-labelledby="titre-chiffres-officiels">',
             '<h2 id="titre-chiffres-officiels">Les chiffres officiels à côté des nôtres</h2>']
    if references is None or not isinstance(references, pd.DataFrame) or references.empty:
        parts.append(missing_html("La table des chiffres officiels (<code>references</code>) est vide ou absente "
                                  "de cette publication."))
        parts.append("</section>")
        return "\n".join(parts)
    parts.append("<p>Chaque chiffre officiel publié, avec sa définition et sa source, et la valeur de "
                 "l'observatoire sur le périmètre le plus proche quand elle est calculable. Fiabilité de la source : "
                 "V vérifiée sur le texte primaire, S source secondaire, U non vérifiée.</p>")
    rows = []
    for item in references.to_dict("records"):
        unit = item.get("unite")
        ours = _value_in_unit(item.get("valeur_observatoire"), unit)
        scope = item.get("perimetre_observatoire")
        if as_float(item.get("valeur_observatoire")) is not None and scope:
            year = as_float(item.get("annee_observatoire"))
            ours += f"<br><small>{esc(SCOPE_LABELS.get(scope, scope))}" + (f", {int(year)}" if year else "") \
                    + "</small>"
        # The source goes under the definition: one column less keeps the table readable on a laptop.
        source = external_link_html(item.get("url"), item.get("source") or item.get("url") or "source")
        if item.get("fiabilite"):
            source += f" ({esc(item.get('fiabilite'))})"
        definition = (f"{esc(item.get('definition'))}<br><small><code>{esc(item.get('id'))}</code> · "
                      f"{esc(item.get('periode'))} · {esc(item.get('perimetre_officiel'))}<br>"
                      f"Source : {source}</small>")
        rows.append([definition, _value_in_unit(item.get("valeur_officielle"), unit), ours,
                     _difference_in_unit(item.get("ecart"), unit), esc(item.get("explication"))])
    headers = [("Chiffre officiel et source", "texte"), ("Valeur officielle", "nombre"), ("Notre valeur", "nombre"),
               ("Écart", "nombre"), ("Pourquoi ils diffèrent", "texte")]
    parts.append(table_html(headers, rows, "Source : <code>data/references.csv</code>. Écart = notre valeur moins la "
                                           "valeur officielle (en points pour une part)."))
    parts.append("</section>")
    return "\n".join(parts)


# --- Downloads --------------------------------------------------------------------------------------------------

def downloads_section(folder: Path, downloads: list[dict] | None) -> str:
    parts = ['<section id="telechargements" aria-labelledby="titre-telechargements">',
             '<h2 id="titre-telechargements">Télécharger les données</h2>']
    items = [d for d in downloads or [] if isinstance(d, dict)]
    if not items:
        parts.append(missing_html("Aucun fichier n'est listé pour cette publication."))
    else:
        parts.append("<p>Tous les fichiers sont dans le dossier de cette page. L'empreinte SHA-256 permet de "
                     "vérifier qu'un fichier n'a pas été modifié (12 premiers caractères affichés, empreinte "
                     "complète au survol).</p>")
        rows = [_download_row(folder, item) for item in items]
        headers = [("Fichier", ""), ("Contenu", ""), ("Format", ""), ("Lignes", "nombre"), ("Taille", "nombre"),
                   ("SHA-256", ""), ("Schéma", ""), ("Licence", "")]
        parts.append(table_html(headers, rows))
    package = local_link_html(folder, "datapackage.json")
    if package.startswith("<a "):
        parts.append(f"<p>Description complète de la publication (Data Package, Frictionless) : {package}.</p>")
    parts.append("</section>")
    return "\n".join(parts)


def _download_row(folder: Path, item: dict) -> list[str]:
    digest = str(item.get("sha256") or "")
    fingerprint = f'<code class="empreinte" title="{esc(digest)}">{esc(digest[:12])}</code>' if digest else MISSING
    schema = local_link_html(folder, item.get("schema")) if item.get("schema") else "—"
    rows = item.get("rows")
    return [local_link_html(folder, item.get("path")), esc(item.get("table")), esc(str(item.get("format", "")).upper()),
            format_integer(rows) if as_float(rows) is not None else "—", format_bytes(item.get("bytes")), fingerprint,
            schema, esc(item.get("licence") or DEFAULT_LICENCE)]


# --- Page -------------------------------------------------------------------------------------------------------

def _guarded(name: str, build: Callable[[], str]) -> str:
    """One section that fails must not take the whole publication down: it is replaced by a sentence (and
    logged), the other sections are still written."""
    try:
        return build()
    except Exception:  # noqa: BLE001 - any error in a section is reported in the page and the log
        log.exception("rapport : section %s impossible à produire", name)
        return missing_html(f"Cette partie ({esc(name)}) n'a pas pu être produite à partir des données publiées.")


def render_page(folder: Path, tables: dict[str, pd.DataFrame], downloads: list[dict], card: dict | None,
                created: dt.datetime) -> str:
    tables = tables or {}
    indicators = data.indicators_frame(tables.get("indicateurs"))
    marches = tables.get("marches")
    date = format_date(created)
    sections = [
        _guarded("chiffre clé", lambda: headline_section(indicators)),
        _guarded("évolution", lambda: trend_section(indicators)),
        _guarded("ventilations", lambda: breakdown_section(indicators)),
        _guarded("acheteurs", lambda: buyers_section(indicators, marches)),
        _guarded("méthode", lambda: method_section(folder, card)),
        _guarded("chiffres officiels", lambda: references_section(tables.get("references"))),
        _guarded("qualité", lambda: quality_section(tables.get("qualite"))),
        _guarded("téléchargements", lambda: downloads_section(folder, downloads)),
    ]
    licence = next((d.get("licence") for d in downloads or [] if isinstance(d, dict) and d.get("licence")),
                   DEFAULT_LICENCE)
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="fr">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # Defence in depth: even if something slipped through escaping, the page may load nothing from anywhere.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "img-src data:; form-action 'none'; base-uri 'none'\">",
        '<meta name="referrer" content="no-referrer">',
        f"<title>Achats innovants de l'État : où en est l'objectif de 2 % ? — {esc(date)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        f'<p class="surtitre">Observatoire des achats innovants · publication du {esc(date)}</p>',
        "<h1>Achats innovants de l'État : où en est l'objectif de 2 % ?</h1>",
        f"<p>{_summary_html(marches)}</p>",
        _nav_html(),
        "</header>",
        "<main>",
        *sections,
        "</main>",
        "<footer>",
        f"<p>Données publiées sous {esc(licence)}. Page produite le {esc(date)} par le pipeline de l'observatoire "
        "à partir des fichiers listés ci-dessus ; elle s'ouvre sans connexion et ne charge rien d'extérieur.</p>",
        "</footer>",
        "</body>",
        "</html>",
        "",
    ])


def _summary_html(marches: pd.DataFrame | None) -> str:
    total, innovative = data.contracts_summary(marches)
    if not total:
        return "Aucun marché n'est publié dans cette publication."
    text = f"{plural(total, 'marché public publié', 'marchés publics publiés')}"
    if innovative is not None:
        text += f", dont {plural(innovative, 'décidé innovant', 'décidés innovants')} par l'observatoire"
    return text + ". Montants attribués, pas des paiements."


def _nav_html() -> str:
    links = [("chiffre-cle", "Chiffre clé"), ("evolution", "Évolution"), ("ventilations", "Ventilations"),
             ("acheteurs", "Acheteurs"), ("methode", "Méthode"), ("chiffres-officiels", "Chiffres officiels"),
             ("qualite", "Qualité"), ("telechargements", "Télécharger")]
    items = "".join(f'<li><a href="#{anchor}">{label}</a></li>' for anchor, label in links)
    return f'<nav aria-label="Sommaire"><ol>{items}</ol></nav>'
