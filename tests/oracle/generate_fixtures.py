"""Record Go's own text/template output for the differential fixtures.

    .venv/bin/python -m tests.oracle.generate_fixtures   # needs Debian's golang-go

Builds the Go oracle in tests/oracle/gotemplate, renders every case with Go 1.19
(Option("missingkey=error"), data struct{ Secrets map[string]string }) and writes
tests/fixtures/gotemplate/cases.json. CI only reads that file.

Sigil's one documented deviation — a missing secret that is the whole condition of an
if/with is false — is recorded as Go's output for the same template with that condition
written as ``index .Secrets "KEY"`` (what the architecture says it must equal).
"""

import json
import random
import re
import subprocess
import tempfile
from pathlib import Path

from tests.oracle.cases import (
    generated_cases,
    handwritten_cases,
    nil_and_name_cases,
    printf_cases,
)

ROOT = Path(__file__).resolve().parents[2]
ORACLE_DIR = ROOT / "tests" / "oracle" / "gotemplate"
FIXTURE = ROOT / "tests" / "fixtures" / "gotemplate" / "cases.json"
Case = dict[str, object]
_CONDITION = re.compile(r"\{\{(-?\s*)(if|else if|with|else with)(\s+)\.Secrets\.(\w+)(\s*-?)\}\}")


def build_oracle() -> Path:
    binary = Path(tempfile.mkdtemp()) / "gooracle"
    subprocess.run(["go", "build", "-o", str(binary), "."], cwd=ORACLE_DIR, check=True)
    return binary


def run_oracle(
    binary: Path, cases: list[dict[str, object]], *, times: int = 0
) -> list[dict[str, object]]:
    args = [str(binary)] + (["-time", str(times)] if times else [])
    proc = subprocess.run(args, input=json.dumps(cases), capture_output=True, text=True, check=True)
    results: list[Case] = json.loads(proc.stdout)
    return results


def lenient_form(template: str) -> str:
    """The template with every bare ``.Secrets.KEY`` condition written as ``index``."""
    return _CONDITION.sub(
        lambda m: "{{" + m[1] + m[2] + m[3] + 'index .Secrets "' + m[4] + '"' + m[5] + "}}",
        template,
    )


def main() -> None:
    rng = random.Random(20261128)
    cases = (
        handwritten_cases()
        + generated_cases(rng, 1400)
        + printf_cases(rng, 500)
        + nil_and_name_cases()
    )
    binary = build_oracle()
    plain = run_oracle(binary, cases)
    lenient = run_oracle(
        binary, [dict(c, template=lenient_form(str(c["template"]))) for c in cases]
    )
    fixtures = []
    for case, go_plain, go_lenient in zip(cases, plain, lenient, strict=True):
        record = dict(case)
        go = go_plain
        if go_plain != go_lenient:
            if go_lenient.get("error") is None and "map has no entry" in str(go.get("error")):
                record["deviation"] = True  # Go errs on the bare condition; Sigil says false
                go = go_lenient
            else:
                continue  # the rewrite moved columns: not comparable without Go itself
        record["output"] = go.get("output")
        record["phase"] = go.get("phase")
        record["error"] = go.get("error")
        fixtures.append(record)
    FIXTURE.write_text(json.dumps(fixtures, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    errors = sum(1 for f in fixtures if f["error"])
    print(f"{len(fixtures)} cases written to {FIXTURE.relative_to(ROOT)} ({errors} errors)")


if __name__ == "__main__":
    main()
