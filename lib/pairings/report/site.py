"""The HTML site: nbconvert renders each executed notebook (code hidden), its figures are saved as PNG
files, and the index links every run of a profile with its headline numbers from the records."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from pairings import publish
from pairings.report.record import Record
from pairings.report.stats import change_text, group
from pairings.report.tables import LOWER_IS_BETTER, label, number


def render_html(notebook: Path, html_path: Path) -> Path:
    """nbconvert's lab template, code hidden: the report a reader opens."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab")
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_filename(str(notebook))
    publish.write(html_path, body)
    return html_path


def save_figures(notebook: Path, folder: Path, prefix: str) -> list[Path]:
    """The PNG figures an executed notebook shows, saved once as files (for the README)."""
    import base64

    import nbformat

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for cell in nbformat.read(str(notebook), as_version=4).cells:
        for output in cell.get("outputs", []):
            if "image/png" in output.get("data", {}):
                paths.append(folder / f"{prefix}-{len(paths) + 1}.png")
                publish.write(paths[-1], base64.b64decode(output["data"]["image/png"]))
    return paths


def change_cell(values: list[float], digits: int, metric: str) -> str:
    """A change, mean ± sd over seeds, coloured by its sign and size (green: better, red: worse; paler: smaller);
    "—" where no run has the metric."""
    if not values:
        return '<td class=none title="not measured by these runs">—</td>'
    mean = float(np.mean(values))
    better = -mean if metric in LOWER_IS_BETTER else mean
    if abs(better) < 5e-5:  # no change at the digits shown: no colour
        return f"<td>{html.escape(change_text(values, digits))}</td>"
    strength = min(abs(better) / 0.3, 1.0)  # a change of 0.3 or more: full colour
    colour = f"rgba(22, 163, 74, {0.08 + 0.5 * strength:.2f})" if better > 0 else f"rgba(220, 38, 38, {0.08 + 0.5 * strength:.2f})"
    return f'<td style="background: {colour}">{html.escape(change_text(values, digits))}</td>'


def cells_html(records: list[Record], pages: dict[str, str]) -> list[str]:
    """One row per pairing and variant (a grid cell or an ablation), over its seeds: the task metric's, STSb's and
    SICK-R's change, each seed's report linked."""
    esc = html.escape
    rows = []
    for name, runs in group(records).items():
        r, task = runs[0], runs[0].task_metric
        seeds = " ".join(f'<a href="{esc(pages[x.run])}">{x.params.get("seed", 42)}</a>' if x.run in pages
                         else str(x.params.get("seed", 42)) for x in sorted(runs, key=lambda x: x.params.get("seed", 42)))
        changes = [[x.after[m] - x.before[m] for x in runs if m in x.after and m in x.before]
                   for m in (task, "stsb_spearman", "sick_spearman")]
        rows.append(f"<tr><td><b>{esc(name)}</b><br><small>{esc(r.data_set)} × {esc(r.loss)}</small></td>"
                    f"<td>{seeds}</td><td>{esc(label(task))}</td>" + change_cell(changes[0], 3, task)
                    + change_cell(changes[1], 4, "stsb_spearman") + change_cell(changes[2], 4, "sick_spearman") + "</tr>")
    return rows


def index_html(profile: str, records: list[Record], pages: dict[str, str], failed: list[str]) -> str:
    """The profile's front page: one row per pairing and variant with its changes over seeds, coloured; then every
    run with its headline numbers, linking each report."""
    esc = html.escape
    cells = cells_html(records, pages)
    rows = []
    for r in records:
        m, task = r.metrics, r.task_metric
        page = pages.get(r.run)
        name = f'<a href="{esc(page)}">{esc(r.run)}</a>' if page else esc(r.run)
        rows.append(
            "<tr>" + "".join(f"<td>{c}</td>" for c in (
                name, esc(r.data.get("train_source", "")) + (f'<br><small>stand-in: {esc(r.data["stand_in"])}</small>'
                                                                  if r.data.get("stand_in") else ""), esc(r.loss),
                r.data.get("train_pairs", ""), r.training.get("steps", ""),
                f'{esc(label(task))}: {number(m["before"].get(task), 3)} → <b>{number(m["after"].get(task), 3)}</b>',
                f'{number(m["before"].get("stsb_spearman"), 4)} → <b>{number(m["after"].get("stsb_spearman"), 4)}</b>',
                f'{r.timings.get("total_seconds", 0):.0f} s' + (
                    f'<br><small>resumed at step {r.training["resumed_from_step"]}</small>'
                    if r.resumed_from_step else ""),
                esc(r.device.get("gpu", r.device["device"])),
            )) + "</tr>")
    extra = ""
    if "summary" in pages:
        extra += f'<p><a href="{esc(pages["summary"])}"><b>Summary: every run, the data × loss grid, the transfer matrix</b></a></p>'
    if failed:
        extra += "<p class=failed>Failed in the last run (the report above is the last good one): " + ", ".join(
            f'<a href="{esc(f)}.failed.html">{esc(f)}</a>' for f in failed) + "</p>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>minilm-pairings · {esc(profile)} profile</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #222; }}
table {{ border-collapse: collapse; width: 100%; font-size: 0.92rem; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 0.45rem 0.6rem; text-align: left; vertical-align: top; }}
th {{ background: #f4f4f4; }} .failed {{ color: #a00; }} code {{ background: #f4f4f4; padding: 0 .2rem; }}
td.none {{ color: #888; }} #cells td:nth-child(n+4) {{ white-space: nowrap; }}
details {{ margin-top: 1.5rem; }} summary {{ cursor: pointer; font-weight: 600; }}
</style></head><body>
<h1>minilm-pairings: <code>{esc(profile)}</code> profile</h1>
<p>How the data and the loss shape a fine-tuned <code>all-MiniLM-L6-v2</code>. Each run is a pairing notebook executed
by papermill with <code>params/{esc(profile)}/&lt;pairing&gt;.yaml</code>; every number is read from that run's record
(<code>&lt;run&gt;.json</code> beside this page).</p>
{extra}
<h2>What each fine-tuning changed</h2>
<p>One row per pairing and variant (a cell of the data × loss grid, or an ablation): the change fine-tuned − base of
its held-out task metric, of STSb and of SICK-R test Spearman, mean ± sd over its seeds, "(n.s.)" where the seeds'
spread covers it; green better, red worse, the stronger the larger. Each seed links to its report.</p>
<table id="cells"><thead><tr><th>pairing</th><th>seeds</th><th>task metric</th><th>task change</th><th>STSb change</th>
<th>SICK-R change</th></tr></thead>
<tbody>
{chr(10).join(cells) or '<tr><td colspan=6>No runs recorded yet.</td></tr>'}
</tbody></table>
<details><summary>Every run ({len(records)}): data, size, base → fine-tuned, time</summary>
<table id="runs"><thead><tr><th>run</th><th>training data</th><th>loss</th><th>train pairs</th><th>steps</th>
<th>task metric: base → fine-tuned</th><th>STSb Spearman: base → fine-tuned</th><th>wall time</th><th>device</th></tr></thead>
<tbody>
{chr(10).join(rows) or '<tr><td colspan=9>No runs recorded yet.</td></tr>'}
</tbody></table></details>
</body></html>
"""
