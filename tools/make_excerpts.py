"""Write `tests/excerpts/`: small excerpts of the agencies' real files, laid out like the mirror, so that the readers,
the harmonized table, the explorer, the damaged-input corpus and the FDC client's HTTP tests run without the mirror.

Every excerpt keeps the upstream file's name, header and format and a chosen subset of its rows (named in
EXCERPTS.csv, with the sha256 of the excerpt and of the upstream file it was cut from). Workbooks are rewritten with
openpyxl (values kept as text; their bytes carry the time of writing, so a rerun changes their sha256s), so an excerpt of Ciqual's .xls is an .xlsx workbook under the .xls name (calamine
reads both). Nothing here is invented: every row is a row of the real file.

    ATOMVISION_MIRROR=../shared/data python tools/make_excerpts.py
"""
import csv
import io
import json
import os
import shutil
import zipfile
from pathlib import Path

import pandas as pd

from atomvision.fetch import sha256_of
from atomvision.usda_fdc import FDC_NUMBER_TO_SYMBOL

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / 'tests' / 'excerpts'
MIRROR = Path(os.environ.get('ATOMVISION_MIRROR', ROOT.parent / 'shared' / 'data')).resolve()

# The foods kept, chosen to cover what the notebooks test: raw spinach in every source that has it, the FDC foods
# whose SR28 twins the harmonizer joins, hummus (selenium below the LOQ), butter (an SR28 food with an FDC id).
SR28_FOODS = ['01001', '01077', '09003', '09236', '11457', '11090', '15076', '16158', '20044',
              '23424', '23425', '17436', '05178', '13797', '23001', '13956', '05354', '23595', '17282', '23151', '05333', '05185', '10953', '10976', '23498', '17093', '23569', '17278', '07040', '13373', '10214', '35177', '17202',
              '23081', '05714', '13368', '07915', '23592', '23135',
              '01003', '02050', '02052'] # meat (the NZ beef liver, its Mn flagged, among others), and three foods with an assumed zero (Src_Cd 7)
FDC_FOUNDATION = ['1999632', '321358', '325430']
EAT2_ELEMENTS = ['Cd', 'Pb', 'Ca'] # a food needs 3 elements to enter the unified table
CIQUAL_FOODS = ['20059', '13000', '19024', '25602', '9100', '26009', '11001', '20001', '16100', '2028']
AFCD_FOODS = ['F008749'] # and the sheet's first 12 foods
TDS_FOODS = {'1', '2', '5', '10', '50', '59', '89', '90'} # 50: rice, with arsenic species
INCA3_PEOPLE = 100 # per population (adults, children)

rows_kept: list = []


def record(rel: str, selection: str, kept: int) -> None:
    rows_kept.append(dict(path=rel, sha256=sha256_of(OUT / rel), size=(OUT / rel).stat().st_size, upstream_sha256=sha256_of(MIRROR / rel),
                          rows_kept=kept, selection=selection))


def whole(rel: str, note: str = 'the whole file (small)') -> None:
    (OUT / rel).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(MIRROR / rel, OUT / rel)
    record(rel, note, -1)


def lines(rel: str, keep, selection: str, header: int = 1, encoding: str = 'utf-8') -> None:
    "Keep the first `header` lines and the lines for which keep(line) is true (files without quoted line breaks)."
    text = (MIRROR / rel).read_bytes().decode(encoding)
    newline = '\r\n' if '\r\n' in text else '\n'
    all_lines = text.split(newline)
    body = [l for l in all_lines[header:] if l.strip() and keep(l)]
    (OUT / rel).parent.mkdir(parents=True, exist_ok=True)
    (OUT / rel).write_bytes(newline.join(all_lines[:header] + body + ['']).encode(encoding))
    record(rel, selection, len(body))


def csv_rows(rel: str, keep, selection: str, encoding: str = 'utf-8', delimiter: str = ',') -> None:
    "Keep the header and the rows for which keep(row: dict) is true, through the csv module (quoted fields kept quoted)."
    text = (MIRROR / rel).read_bytes().decode(encoding)
    reader = csv.reader(io.StringIO(text, newline=''), delimiter=delimiter)
    header = next(reader)
    body = [r for r in reader if keep(dict(zip(header, r)))]
    out = io.StringIO(newline='')
    writer = csv.writer(out, delimiter=delimiter, lineterminator='\r\n' if '\r\n' in text[:5000] else '\n', quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header); writer.writerows(body)
    (OUT / rel).parent.mkdir(parents=True, exist_ok=True)
    (OUT / rel).write_bytes(out.getvalue().encode(encoding))
    record(rel, selection, len(body))


def workbook(rel: str, sheet: str | None, keep, selection: str) -> None:
    "Keep a sheet's header and the rows for which keep(frame) is true, written as .xlsx (text values)."
    frame = pd.read_excel(MIRROR / rel, sheet_name=sheet or 0, dtype=str, engine='calamine', keep_default_na=False)
    kept = frame[keep(frame)]
    (OUT / rel).parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine='openpyxl') as writer: kept.to_excel(writer, sheet_name=sheet or 'Sheet1', index=False)
    (OUT / rel).write_bytes(buffer.getvalue())
    record(rel, selection, len(kept))


def fdc_foundation(rel: str) -> None:
    "The Foundation zip, with only the tables the reader reads, cut to a few foods and their samples."
    with zipfile.ZipFile(MIRROR / rel) as zf:
        members = {Path(n).name: n for n in zf.namelist() if n.endswith('.csv')}
        read = lambda t: pd.read_csv(zf.open(members[f'{t}.csv']), dtype=str, keep_default_na=False)
        inputs = read('input_food'); inputs = inputs[inputs.fdc_id.isin(FDC_FOUNDATION)]
        samples = set(inputs.fdc_of_input_food)
        subs = read('sub_sample_food'); subs = subs[subs.fdc_id_of_sample_food.isin(samples)]
        foods = set(FDC_FOUNDATION) | samples | set(subs.fdc_id)
        nutrient = read('nutrient')
        elements = set(nutrient[nutrient.unit_name.isin(['MG', 'UG'])].id)
        food_nutrient = read('food_nutrient'); food_nutrient = food_nutrient[food_nutrient.fdc_id.isin(foods) & food_nutrient.nutrient_id.isin(elements)]
        results = read('sub_sample_result'); results = results[results.food_nutrient_id.isin(set(food_nutrient.id))]
        tables = {'food': (f := read('food'))[f.fdc_id.isin(foods)], 'food_category': read('food_category'), 'nutrient': nutrient,
                  'food_nutrient': food_nutrient, 'sub_sample_result': results,
                  'foundation_food': (ff := read('foundation_food'))[ff.fdc_id.isin(FDC_FOUNDATION)], 'input_food': inputs,
                  'sub_sample_food': subs}
        folder = members['food.csv'].rsplit('/', 1)[0]
    (OUT / rel).parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(OUT / rel, 'w', zipfile.ZIP_DEFLATED) as zf:
        for name, frame in tables.items():
            zf.writestr(zipfile.ZipInfo(f'{folder}/{name}.csv', (2024, 12, 13, 17, 41, 0)), frame.to_csv(index=False, quoting=csv.QUOTE_ALL))
    record(rel, f'the reader\'s 8 tables, for Foundation foods {", ".join(FDC_FOUNDATION)}, their samples and sub-samples; element nutrients only',
           len(tables['food_nutrient']))


def search_recording(rel: str, foods: int) -> None:
    "A recorded search response with its first `foods` hits (its paging metadata unchanged)."
    response = json.loads((MIRROR / rel).read_text(encoding='utf-8'))
    response['foods'] = response['foods'][:foods]
    (OUT / rel).parent.mkdir(parents=True, exist_ok=True)
    (OUT / rel).write_text(json.dumps(response, ensure_ascii=False), encoding='utf-8')
    record(rel, f'the response with its first {foods} hits; metadata (totalHits, pages) unchanged', foods)


def main() -> None:
    if OUT.exists(): shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    # ANSES EAT2: every food, four elements, the first wave
    whole('anses_eat2/limites_analytiques.csv')
    csv_rows('anses_eat2/Contaminants inorg et mineraux.csv', lambda r: r['Substance'] in EAT2_ELEMENTS and r['Vague'] == '1',
             f"every food, substances {', '.join(EAT2_ELEMENTS)}, wave (Vague) 1")
    def ciqual_rows(f):
        cells = f[[c for c in f.columns if c.startswith(('Calcium', 'Chloride', 'Copper', 'Iron', 'Iodine', 'Magnesium', 'Manganese', 'Phosphorus', 'Potassium', 'Selenium', 'Sodium', 'Zinc'))]]
        first = lambda hit: hit & (hit.cumsum() <= 3)
        return (f.alim_code.isin(CIQUAL_FOODS) | first(cells.apply(lambda c: c.str.startswith('<')).any(axis=1))
                | first(cells.apply(lambda c: c.str.lower() == 'traces').any(axis=1)) | first((cells == '0').any(axis=1)))
    workbook('anses_ciqual/Table Ciqual 2020_ENG_2020 07 07.xls', None, ciqual_rows,
             f"foods {', '.join(CIQUAL_FOODS)} (alim_code) and the first 3 with a '< x', a 'traces' and a 0 value; written as .xlsx")
    # USDA
    fdc_foundation('usda_fdc/FoodData_Central_foundation_food_csv_2024-10-31.zip')
    sr = lambda l: l[1:6] in SR28_FOODS
    element = lambda l: l.split('^')[1].strip('~') in FDC_NUMBER_TO_SYMBOL
    lines('usda_sr28/NUT_DATA.txt', lambda l: sr(l) and element(l), f"foods {', '.join(SR28_FOODS)} (NDB_No), element nutrients only",
          header=0, encoding='latin-1')
    lines('usda_sr28/FOOD_DES.txt', sr, f"foods {', '.join(SR28_FOODS)} (NDB_No)", header=0, encoding='latin-1')
    for name in ('NUTR_DEF', 'FD_GROUP', 'SRC_CD', 'DERIV_CD'): whole(f'usda_sr28/{name}.txt')
    csv_rows('usda_fdc/FoodData_Central_sr_legacy_food_csv_2018-04/sr_legacy_food.csv', lambda r: r['NDB_number'].zfill(5) in SR28_FOODS,
             'the SR28 foods above (NDB_number)')
    whole('usda_fdc_api/food-328637.detail-abridged.json')
    whole('usda_fdc_api/cheddar-cheese.search-all.json')
    search_recording('usda_fdc_api/cheddar-cheese.search-foundation.json', 1)
    # FDA TDS
    whole('fda_tds/fda_tds_fy2018_2020_ingredient_routes.csv')
    csv_rows('fda_tds/fda_tds_fy2018_2020_summary_by_food_analyte.csv', lambda r: r['tds_food_number'] in TDS_FOODS,
             f"TDS foods {', '.join(sorted(TDS_FOODS, key=int))}")
    lines('fda_tds/fda_tds_nickel_fy2018_2020_rows.txt', lambda l: l.split()[3] in TDS_FOODS, f"TDS foods {', '.join(sorted(TDS_FOODS, key=int))}")
    # Europe and Oceania
    workbook('fsanz_afcd/Release 2 - Nutrient file.xlsx', 'All solids & liquids per 100g', lambda f: f['Public Food Key'].isin(AFCD_FOODS) | f.index.isin(range(12)),
             f"the first 12 foods and {', '.join(AFCD_FOODS)} (Public Food Key)")
    workbook('bfr_meal/2022-10-27_Occurrence of nickel in prepared foods of BfR MEAL study.xlsx', 'Nickel',
             lambda f: f.index.isin(range(40)) | f.apply(lambda r: r.astype(str).str.contains('Spinach|Footnote|^\\*', regex=True).any(), axis=1),
             'the first 40 rows, the spinach rows and the footnote rows')
    whole('health_canada_tds/template.csv')
    lines('health_canada_tds/Total Diet Study Radionuclides results 2023.csv', lambda l: l.startswith('"Milk'), 'the milk rows')
    # consumption and guidance values
    people = pd.read_csv(MIRROR / 'anses_inca3/description-indiv.csv', sep=';', dtype=str, encoding='utf-8-sig')
    eaters = set(pd.read_csv(MIRROR / 'anses_inca3/conso-gpe-inca3.csv', sep=';', dtype=str, encoding='utf-8-sig', usecols=['NOIND']).NOIND)
    people = people[people.NOIND.isin(eaters) & (people.pop3 == '1')]
    chosen = set(people[people.ech == '1'].NOIND[:INCA3_PEOPLE]) | set(people[people.ech == '2'].NOIND[:INCA3_PEOPLE])
    for rel in ('anses_inca3/description-indiv.csv', 'anses_inca3/conso-gpe-inca3.csv'):
        csv_rows(rel, lambda r: r['NOIND'] in chosen, f'the first {INCA3_PEOPLE} adults and {INCA3_PEOPLE} children of the consumption file',
                 encoding='utf-8-sig', delimiter=';')
    metals = ('Cadmium', 'Lead', 'Mercury', 'Methylmercury', 'Nickel', 'Aluminium', 'Arsenic', 'Selenium', 'Zinc', 'Copper', 'Iodine',
              'Molybdenum', 'Chromium', 'Antimony')
    for rel in ('efsa_openfoodtox/ReferenceValues_KJ_2022.csv', 'efsa_openfoodtox/ReferencePoints_KJ_2022.csv'):
        csv_rows(rel, lambda r: r['Substance'].startswith(metals) or r['Substance'].startswith('(-)-3,7'), 'the rows of the elements with a guidance value',
                 encoding='utf-8-sig')
    pd.DataFrame(rows_kept).to_csv(OUT / 'EXCERPTS.csv', index=False)
    total = sum(p.stat().st_size for p in OUT.rglob('*') if p.is_file())
    print(f'{len(rows_kept)} excerpts, {total / 1e6:.3f} MB in {OUT}')
    for r in rows_kept: print(f"{r['size']:>9,}  {r['path']}")


if __name__ == '__main__':
    main()
