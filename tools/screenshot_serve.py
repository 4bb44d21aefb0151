"""Serve the trained model, open its web page in headless Chromium, upload a val photo and save a screenshot.

Starts `atomvision serve` on a free 127.0.0.1 port with the given checkpoint (default: the quick CPU run of
`make run`), drives Debian's `chromium` through Playwright like the page's test in nbs/10a_serve.ipynb, waits for
the 22 element rows and the attention overlay, and saves the page. Only loopback is used.

Usage: python tools/screenshot_serve.py [--checkpoint data/runs/cpu-seed0] [--photo PATH] [--out PNG]
"""
import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run']


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--checkpoint', default=str(ROOT / 'data/runs/cpu-seed0'))
    parser.add_argument('--photo', help='a photo to upload (default: a val photo from the store)')
    parser.add_argument('--out', default=str(ROOT / 'data/screenshots/serve_page.png'))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    photo = args.photo
    if photo is None:
        from PIL import Image
        from atomvision.store import ImageStoreDataset, default_store
        val = ImageStoreDataset(default_store(), 'val')
        photo = Path(tempfile.mkdtemp()) / 'val.jpg'
        Image.fromarray(val[40][0].permute(1, 2, 0).numpy()).save(photo, quality=92)
    server = subprocess.Popen([sys.executable, '-m', 'atomvision', 'serve', '--checkpoint', args.checkpoint, '--port', str(port)], cwd=ROOT)
    url = f'http://127.0.0.1:{port}'
    try:
        for _ in range(600):
            try:
                if b'"ok"' in urllib.request.urlopen(url + '/health', timeout=2).read(): break
            except Exception: pass
            time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which('chromium'), args=FLAGS)
            page = browser.new_page(viewport={'width': 1280, 'height': 900})
            page.goto(url + '/')
            page.set_input_files('#file', str(photo))
            page.wait_for_function("document.querySelectorAll('tr.element').length === 22", timeout=120_000)
            page.wait_for_function("!document.getElementById('overlay').hidden && document.getElementById('overlay').naturalWidth > 0", timeout=120_000)
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=args.out, full_page=True)
            browser.close()
        print(f'screenshot: {args.out}')
    finally:
        server.terminate(); server.wait(10)


if __name__ == '__main__':
    main()
