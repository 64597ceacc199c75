"""HTML building blocks of the report: one self-contained page (inline CSS, inline JS, figures as
data URIs), no network access when opened. Tables are sortable by clicking a column heading.
"""

from __future__ import annotations

import base64
import html
import io
import json
from typing import Any

import pandas as pd

CSS = """body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1400px;padding:0 1em;
color:#222}h1{margin-bottom:.2em}h2{border-bottom:2px solid #ccc;padding-bottom:.2em;
margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:13px}td,th{border:1px solid #bbb;
padding:3px 7px;text-align:right;vertical-align:top}th{background:#eee;position:sticky;top:0}
table.sortable th{cursor:pointer}table.sortable th:after{content:" \\2195";color:#999}
td:first-child,th:first-child{text-align:left}.warn{background:#fde8e8;border-left:6px solid #c00;
padding:.5em .8em;margin:.5em 0;font-weight:600}.note{color:#555;font-size:13px}
.ok{background:#e3f4e1}.bad{background:#f9d6d5}.rand{background:#fff0c9}.skip{background:#eee;
color:#666}nav a{margin-right:.8em}img{max-width:100%;height:auto;border:1px solid #ddd}
details{margin:.5em 0}summary{cursor:pointer;font-weight:600}.scroll{overflow-x:auto;
max-width:100%}"""

# Click a heading to sort by it; numbers (leading number of a cell) sort numerically, the rest as
# text; a second click reverses. About 20 lines, no library.
SORT_JS = """document.querySelectorAll('table.sortable').forEach(function(t){
 t.querySelectorAll('thead th').forEach(function(th,i){th.addEventListener('click',function(){
  var body=t.tBodies[0],rows=Array.from(body.rows),asc=th.dataset.dir!=='asc';
  t.querySelectorAll('thead th').forEach(function(h){delete h.dataset.dir;});
  th.dataset.dir=asc?'asc':'desc';
  function key(r){var s=(r.cells[i]||{}).textContent||'';var n=parseFloat(s);
   return isNaN(n)?[1,s.toLowerCase()]:[0,n];}
  rows.sort(function(a,b){var x=key(a),y=key(b);if(x[0]!==y[0])return x[0]-y[0];
   var c=x[1]<y[1]?-1:x[1]>y[1]?1:0;return asc?c:-c;});
  rows.forEach(function(r){body.appendChild(r);});});});});"""


def page(title: str, body: str) -> str:
    """The whole document."""
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width'><title>{html.escape(title)}"
            f"</title><style>{CSS}</style></head><body>{body}<script>{SORT_JS}</script>"
            "</body></html>\n")


def section(anchor: str, title: str, body: str, note: str = "") -> str:
    """An ``<h2>`` section with an optional explanatory note under the heading."""
    note_html = f"<p class='note'>{html.escape(note)}</p>" if note else ""
    return f"<section id='{anchor}'><h2>{html.escape(title)}</h2>{note_html}{body}</section>\n"


def table(df: pd.DataFrame, empty: str, floatfmt: str = "{:.3f}", index: bool = False) -> str:
    """A sortable table, or a sentence saying why there is none."""
    if df is None or not len(df):
        return f"<p>{html.escape(empty)}</p>"
    body = df.to_html(index=index, escape=True, na_rep="–", border=0,
                      float_format=floatfmt.format, classes="sortable")
    return f"<div class='scroll'>{body}</div>"  # wide tables scroll instead of widening the page


def warn(text: str) -> str:
    """A loud warning box (text is escaped)."""
    return f"<div class='warn'>{html.escape(text)}</div>"


def png_img(png: bytes, alt: str, plotted: list[str] | None = None,
            legend: list[str] | None = None) -> str:
    """An ``<img>`` holding the PNG itself, so the report stays one self-contained file; a
    figure with a legend carries what it plots and what its legend names (``data-plotted``,
    ``data-legend``, JSON) for the browser test."""
    data = base64.b64encode(png).decode()
    extra = "" if plotted is None else (
        f" data-plotted='{html.escape(json.dumps(plotted), quote=True)}'"
        f" data-legend='{html.escape(json.dumps(legend or []), quote=True)}'")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}"{extra}>'


def figure_png(fig: Any) -> bytes:
    """PNG bytes of a matplotlib figure (closed afterwards)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def colored_matrix(values: pd.DataFrame, classes: pd.DataFrame) -> str:
    """A table whose cells carry a CSS class each (the grid-at-a-glance matrix)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in [values.index.name or "", *values])
    rows = []
    for label, row in values.iterrows():
        cells = "".join(f"<td class='{classes.loc[label, c]}'>{html.escape(str(row[c]))}</td>"
                        for c in values)
        rows.append(f"<tr><td>{html.escape(str(label))}</td>{cells}</tr>")
    return (f"<div class='scroll'><table class='sortable'><thead><tr>{head}</tr></thead><tbody>"
            f"{''.join(rows)}</tbody></table></div>")
