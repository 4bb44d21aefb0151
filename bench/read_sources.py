"""Benchmark: every source read into the tidy schema, against pandas alone reading the same raw files.

Every occurrence source in the registry (`registry.registered()`, the readers the build uses) is measured. Each measurement runs in a fresh process so that its peak memory (max RSS above the process's
baseline after imports) is its own. Prints seconds and peak MB per source for atomvision's reader
and for plain pandas, their ratio, and the total. Usage: python bench/read_sources.py [--repeat N]
Needs the files fetched (`atomvision fetch`, or ATOMVISION_MIRROR set).
"""
import argparse
import json
import resource
import subprocess
import sys
import time
import zipfile

from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import atomvision.harmonize  # noqa: E402,F401 -- importing it registers every source
from atomvision.registry import registered, spec_files  # noqa: E402

SPECS = registered('occurrence')
SOURCES = list(SPECS)


def _pandas_only(source: str):
    "Read the raw files of `source` with pandas alone (no parsing, joins or checks beyond pandas')."
    import pandas as pd
    from atomvision.fetch import fetch_file
    f = lambda p: fetch_file(p)[0]
    if source == 'usda_fdc_foundation':
        with zipfile.ZipFile(f('usda_fdc/FoodData_Central_foundation_food_csv_2024-10-31.zip')) as zf:
            return [pd.read_csv(zf.open(n), dtype=str) for n in zf.namelist()
                    if n.rsplit('/', 1)[-1] in ('food.csv', 'food_category.csv', 'nutrient.csv', 'food_nutrient.csv',
                                                'foundation_food.csv', 'input_food.csv', 'sub_sample_food.csv')]
    if source == 'usda_sr28':
        return [pd.read_csv(f(f'usda_sr28/{n}.txt'), sep='^', quotechar='~', header=None, dtype=str, encoding='latin-1')
                for n in ('NUT_DATA', 'FOOD_DES', 'FD_GROUP', 'NUTR_DEF')] + \
               [pd.read_csv(f('usda_fdc/FoodData_Central_sr_legacy_food_csv_2018-04/sr_legacy_food.csv'), dtype=str)]
    if source == 'fda_tds':
        return [pd.read_csv(f('fda_tds/fda_tds_fy2018_2020_summary_by_food_analyte.csv'), dtype=str),
                pd.read_csv(f('fda_tds/fda_tds_fy2018_2020_ingredient_routes.csv'), dtype=str)]
    if source == 'anses_eat2':
        return [pd.read_csv(f('anses_eat2/Contaminants inorg et mineraux.csv'), dtype=str),
                pd.read_csv(f('anses_eat2/limites_analytiques.csv'), dtype=str)]
    if source == 'anses_ciqual':
        return [pd.read_excel(f('anses_ciqual/Table Ciqual 2020_ENG_2020 07 07.xls'), dtype=str, engine='calamine')]
    if source == 'health_canada_tds':
        return [pd.read_csv(f('health_canada_tds/Total Diet Study Radionuclides results 2023.csv'), dtype=str)]
    if source == 'fda_tds_nickel': # a space-separated file with quoted fields and spaces in the region: pandas reads its lines
        return [pd.read_csv(f('fda_tds/fda_tds_nickel_fy2018_2020_rows.txt'), sep='\t', header=None, dtype=str),
                pd.read_csv(f('fda_tds/fda_tds_fy2018_2020_ingredient_routes.csv'), dtype=str)]
    if source == 'bfr_meal':
        return [pd.read_excel(f('bfr_meal/2022-10-27_Occurrence of nickel in prepared foods of BfR MEAL study.xlsx'), sheet_name='Nickel', dtype=str, engine='calamine')]
    if source == 'fsanz_afcd':
        from atomvision.afcd import AFCD_SHEET
        return [pd.read_excel(f('fsanz_afcd/Release 2 - Nutrient file.xlsx'), sheet_name=AFCD_SHEET, dtype=str, engine='calamine')]
    raise KeyError(source)


def _atomvision(source: str):
    result = SPECS[source].read()
    return len(result.data), len(result.quarantine)


def _one(source: str, mode: str) -> dict:
    "Measure one read in this process (called in a child process)."
    import pandas  # noqa: F401 -- imports are part of the baseline, not of the read
    from atomvision.fetch import fetch_file
    for f in spec_files(SPECS[source]): fetch_file(f)  # the source's files in the cache before timing
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    rows = (_atomvision if mode == 'atomvision' else _pandas_only)(source)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return dict(seconds=seconds, peak_mb=(peak - base) / 1024, rows=rows if mode == 'atomvision' else None)


def _measure(source: str, mode: str) -> dict:
    done = subprocess.run([sys.executable, __file__, '--one', source, mode], capture_output=True, text=True)
    if done.returncode != 0: raise RuntimeError(f'{source}/{mode} failed:\n{done.stderr[-3000:]}')
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeat', type=int, default=1, help='runs per measurement; the fastest is kept')
    parser.add_argument('--one', nargs=2, metavar=('SOURCE', 'MODE'), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_one(*args.one)))
        return 0
    print(f"{'source':22} {'atomvision s':>12} {'peak MB':>8} {'pandas s':>9} {'peak MB':>8} {'time ratio':>10} {'results':>8} {'quarantined':>11}")
    totals = dict(ours=0.0, pandas=0.0)
    for source in SOURCES:
        ours = min((_measure(source, 'atomvision') for _ in range(args.repeat)), key=lambda m: m['seconds'])
        plain = min((_measure(source, 'pandas') for _ in range(args.repeat)), key=lambda m: m['seconds'])
        totals['ours'] += ours['seconds']; totals['pandas'] += plain['seconds']
        print(f"{source:22} {ours['seconds']:12.2f} {ours['peak_mb']:8.0f} {plain['seconds']:9.2f} {plain['peak_mb']:8.0f} "
              f"{ours['seconds'] / plain['seconds']:10.2f} {ours['rows'][0]:8,} {ours['rows'][1]:11,}")
    print(f"{'all sources':22} {totals['ours']:12.2f} {'':8} {totals['pandas']:9.2f} {'':8} {totals['ours'] / totals['pandas']:10.2f}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
