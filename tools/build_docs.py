"""Build a browsable documentation site from nbs/*.ipynb with nbconvert (no Quarto) into _docs/.

One HTML page per notebook, in data-flow order, with a navigation bar on every page; `#| hide` cells left out, nbdev
directives stripped from the code shown; under each notebook of a module, a table of its exported API (signature and
docstring, as nbdev's show_doc gives). `index.html` is nbs/index.ipynb (the README). Stored outputs are kept as they
are (run `make notebooks` first for the results). Usage: python tools/build_docs.py [--out _docs]
"""
import argparse
import html
import importlib
import inspect
import json
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def notebooks() -> list:
    nbs = sorted(p for p in (ROOT / 'nbs').glob('*.ipynb') if not p.name.startswith(('_', '.')))
    return [p for p in nbs if p.name == 'index.ipynb'] + [p for p in nbs if p.name != 'index.ipynb']


def page_name(path: Path) -> str: return 'index.html' if path.stem == 'index' else f'{path.stem}.html'


def title_of(nb: dict, path: Path) -> str:
    for cell in nb['cells']:
        if cell['cell_type'] == 'markdown':
            first = ''.join(cell['source']).strip().splitlines()[0] if ''.join(cell['source']).strip() else ''
            if first.startswith('# '): return first[2:].strip()
    return path.stem


def module_of(nb: dict) -> str | None:
    for cell in nb['cells']:
        match = re.search(r'^#\|\s*default_exp\s+(\S+)', ''.join(cell['source']), re.M)
        if cell['cell_type'] == 'code' and match: return match.group(1)
    return None


def cleaned(nb: dict) -> dict:
    "The notebook without `#| hide` cells and the default_exp cell, directives stripped from the code shown."
    keep = []
    for cell in nb['cells']:
        source = ''.join(cell['source'])
        if cell['cell_type'] == 'code':
            directives = re.findall(r'^#\|\s*(\S+)', source, re.M)
            if 'hide' in directives or 'default_exp' in directives: continue
            source = '\n'.join(l for l in source.splitlines() if not l.startswith('#|')).strip('\n')
            if not source: continue
        cell = dict(cell, source=source)
        keep.append(cell)
    return dict(nb, cells=keep)


def api_table(module: str) -> str:
    "The exported names of `atomvision.<module>` with their signature and docstring: the show_doc table of the page."
    mod = importlib.import_module(f'atomvision.{module}')
    rows = []
    for name in getattr(mod, '__all__', []):
        obj = getattr(mod, name, None)
        if obj is None or not (inspect.isfunction(obj) or inspect.isclass(obj)): continue
        try: signature = str(inspect.signature(obj))
        except (TypeError, ValueError): signature = ''
        doc = (inspect.getdoc(obj) or '').split('\n\n')[0]
        kind = 'class' if inspect.isclass(obj) else 'def'
        rows.append(f'<tr><td><code>{kind} {html.escape(name)}{html.escape(signature)}</code></td><td>{html.escape(doc)}</td></tr>')
    if not rows: return ''
    return (f'<section class="api"><h2 id="api">API: atomvision.{html.escape(module)}</h2><table><thead><tr><th>name and signature</th>'
            f'<th>what it does</th></tr></thead><tbody>{"".join(rows)}</tbody></table></section>')


STYLE = """<style>nav.site{position:sticky;top:0;z-index:10;background:#1d2430;padding:8px 16px;font:14px system-ui,sans-serif}
nav.site a{color:#cfd6e4;margin-right:12px;text-decoration:none;white-space:nowrap;display:inline-block}
nav.site a.here{color:#fff;font-weight:600} section.api{max-width:1100px;margin:24px auto;padding:0 16px;font:14px system-ui,sans-serif}
section.api table{border-collapse:collapse;width:100%} section.api td,section.api th{border-bottom:1px solid #e3e6eb;padding:4px 8px;vertical-align:top;text-align:left}
section.api code{font-size:12px;white-space:pre-wrap}</style>"""


def build(out: Path) -> list:
    from nbconvert import HTMLExporter
    import nbformat
    shutil.rmtree(out, ignore_errors=True); out.mkdir(parents=True)
    pages = []
    for path in notebooks():
        nb = json.loads(path.read_text(encoding='utf-8'))
        pages.append((path, page_name(path), title_of(nb, path), module_of(nb), nb))
    exporter = HTMLExporter(template_name='lab')
    for path, name, title, module, nb in pages:
        here = ' class="here"'
        nav = '<nav class="site">' + ''.join(f'<a href="{n}"{here if n == name else ""}>{html.escape(t if n != "index.html" else "atomvision")}</a>'
                                             for _, n, t, _, _ in pages) + '</nav>'
        body, _ = exporter.from_notebook_node(nbformat.from_dict(cleaned(nb)))
        body = body.replace('<title>Notebook</title>', f'<title>{html.escape(title)} - atomvision</title>')
        body = re.sub(r'(<body[^>]*>)', lambda m: m.group(1) + nav, body, count=1)
        body = body.replace('</head>', STYLE + '</head>', 1)
        if module: body = body.replace('</body>', api_table(module) + '</body>', 1)
        (out / name).write_text(body, encoding='utf-8')
    for image in (ROOT / 'docs').rglob('*.png'): # images the README shows
        target = out / image.relative_to(ROOT); target.parent.mkdir(parents=True, exist_ok=True); shutil.copy(image, target)
    return [out / n for _, n, _, _, _ in pages]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', type=Path, default=ROOT / '_docs')
    args = parser.parse_args()
    written = build(args.out)
    print(f'{len(written)} pages in {args.out}: ' + ', '.join(p.name for p in written))


if __name__ == '__main__':
    main()
