"""Build README.md from nbs/index.ipynb without Quarto.

Markdown cells are copied as they are; code cells become ```python blocks followed by their
saved text outputs; cells marked `#| hide` are left out, and other `#|` directives are dropped.
Usage: build_readme.py [--check] (with --check, exit 1 when README.md is stale instead of writing).
"""
import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = '<!-- Generated from nbs/index.ipynb by tools/build_readme.py: edit the notebook, not this file. -->\n\n'


def _text(value) -> str:
    return ''.join(value) if isinstance(value, list) else value


def _output_text(output: dict) -> str:
    if output.get('output_type') == 'stream': return _text(output.get('text', ''))
    data = output.get('data', {})
    if 'text/markdown' in data: return _text(data['text/markdown'])
    if 'text/plain' in data: return _text(data['text/plain'])
    return ''


def render(notebook: Path) -> str:
    "The README text for `notebook`."
    cells = json.loads(notebook.read_text(encoding='utf-8'))['cells']
    parts = []
    for cell in cells:
        lines = _text(cell['source']).splitlines()
        directives = [l.replace(' ', '') for l in lines if l.startswith('#|')]
        if '#|hide' in directives: continue
        body = '\n'.join(l for l in lines if not l.startswith('#|')).strip('\n')
        if cell['cell_type'] == 'markdown':
            parts.append(body)
        elif cell['cell_type'] == 'code' and body:
            parts.append(f'```python\n{body}\n```')
            outputs = ''.join(_output_text(o) for o in cell.get('outputs', [])).rstrip('\n')
            if outputs: parts.append(f'```\n{outputs}\n```')
    return HEADER + '\n\n'.join(parts) + '\n'


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--check', action='store_true', help='fail if README.md is stale, write nothing')
    parser.add_argument('--root', type=Path, default=ROOT)
    args = parser.parse_args()
    readme, text = args.root / 'README.md', render(args.root / 'nbs' / 'index.ipynb')
    if args.check:
        if not readme.exists() or readme.read_text(encoding='utf-8') != text:
            print('README.md is stale: it differs from nbs/index.ipynb; run `make readme` and commit it.', file=sys.stderr)
            return 1
        print('README.md is up to date with nbs/index.ipynb')
        return 0
    tmp = readme.with_suffix('.md.tmp')
    tmp.write_text(text, encoding='utf-8')
    tmp.replace(readme)
    print(f'wrote {readme}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
