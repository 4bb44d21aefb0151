"""Every notebook's tests, run by nbdev's test runner (see conftest.py)."""
import pytest

from conftest import notebooks


def test_notebooks_exist():
    "The suite must never pass by running nothing."
    names = [p.name for p in notebooks()]
    assert len(names) >= 2 and '00_config.ipynb' in names, names


@pytest.mark.parametrize('name', [p.name for p in notebooks()])
def test_notebook(name, notebook_runs):
    done = notebook_runs[name].result()
    assert done.returncode == 0, f'{name} failed:\n{done.stdout[-4000:]}\n{done.stderr[-8000:]}'
