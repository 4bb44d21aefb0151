"""A trained model travels: its folder, copied anywhere, predicts and serves in a fresh process with an empty data
folder, no image store, no unified dataset and no mirror, and gives the workbench's answer.

A run is stood in for by an untrained `vit_micro` and the fixture store (`images.write_fixture_store`: generated photos
and references, a test fixture, not data), so this test needs neither the mirror nor a training run."""
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

BIN = Path(sys.executable).parent


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    "(store, run folder with its artifact, a bare copy of the weights without one, a generated photo)."
    from atomvision.artifact import write_artifact
    from atomvision.store import write_fixture_store
    from atomvision.vit import ElementViT, vit_config
    from atomvision.checkpoints import save_model
    root = tmp_path_factory.mktemp('travels')
    store = write_fixture_store(root / 'store.h5')
    run, bare = root / 'run', root / 'bare'
    run.mkdir(), bare.mkdir()
    torch.manual_seed(0)
    save_model(ElementViT(vit_config('vit_micro', n_classes=3, dropout=0.1)), run / 'model.safetensors')
    for folder in (run, bare): (folder / 'blend.json').write_text(json.dumps(dict(blend_weight=0.5, unfamiliar_threshold=0.5)))
    shutil.copy(run / 'model.safetensors', bare)
    write_artifact(run, store, dataset=None)
    photo = root / 'photo.jpg'
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8)).save(photo)
    return store, run, bare, photo


def bare_env(data: Path) -> dict:
    "This environment without any ATOMVISION_ setting (no mirror), the data folder `data`."
    return {**{k: v for k, v in os.environ.items() if not k.startswith('ATOMVISION_')}, 'ATOMVISION_DATA': str(data)}


def test_predict_in_an_empty_place_gives_the_workbench_medians(trained, tmp_path):
    from atomvision.predict import Predictor
    store, run, bare, photo = trained
    copy, data = tmp_path / 'copy', tmp_path / 'data'
    shutil.copytree(run, copy), data.mkdir()
    done = subprocess.run([BIN / 'atomvision', 'predict', photo, '--checkpoint', copy, '--format', 'csv', '--mc-samples', '4'],
                          env=bare_env(data), cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    there = pd.read_csv(io.StringIO(done.stdout))
    here = Predictor(bare, store).predict_files([photo], mc_samples=4) # the workbench: weights and the image store
    assert len(there) == 22 and list(there.element) == list(here.element)
    np.testing.assert_allclose(there.median_mg_kg, here.median_mg_kg, rtol=1e-6)
    assert there.closest_foods.iloc[0] == here.closest_foods.iloc[0] != ''
    assert list(data.iterdir()) == [] # nothing needed from (or written to) the data folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_serve_in_an_empty_place_answers_and_refuses_a_bomb(trained, tmp_path):
    from atomvision.store import declared_png
    store, run, bare, photo = trained
    copy, data = tmp_path / 'copy', tmp_path / 'data'
    shutil.copytree(run, copy), data.mkdir()
    port = free_port()
    server = subprocess.Popen([BIN / 'atomvision', 'serve', '--checkpoint', copy, '--port', str(port), '--mc-samples', '2'],
                              env=bare_env(data), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        client = httpx.Client(base_url=f'http://127.0.0.1:{port}', timeout=60)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if client.get('/health').json()['status'] == 'ok': break
            except httpx.TransportError: pass
            assert server.poll() is None, server.stdout.read()
            time.sleep(0.2)
        answer = client.post('/predict', files={'file': ('photo.jpg', photo.read_bytes(), 'image/jpeg')})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert len(body['elements']) == 22 and body['closest']['foods'][0]['source'] == 'fixture'
        bomb = client.post('/predict', files={'file': ('bomb.png', declared_png(20000, 20000), 'image/png')})
        assert bomb.status_code == 413 and 'decompression bomb' in bomb.json()['error']
    finally:
        server.terminate()
        log = server.communicate(timeout=30)[0]
    assert 'Traceback' not in log, log


def test_one_prediction_entry_point():
    "`Predictor` is the one way to predict from Python; the older entry points are gone."
    import atomvision.cli, atomvision.evaluate, atomvision.predict, atomvision.vit
    gone = {'vit.predict': hasattr(atomvision.vit, 'predict'), 'evaluate.predict_images': hasattr(atomvision.evaluate, 'predict_images'),
            'predict.predict_files': hasattr(atomvision.predict, 'predict_files'), 'cli.predict_photos': hasattr(atomvision.cli, 'predict_photos')}
    assert not any(gone.values()), [name for name, present in gone.items() if present]
