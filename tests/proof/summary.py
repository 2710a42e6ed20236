"""Print the figures the proof suites recorded (tests/artifacts/proof-figures.json) as a table."""

import json

from tests.proof.conftest import FIGURES


def main() -> None:
    """One row per figure, grouped by suite."""
    if not FIGURES.exists():
        raise SystemExit("no figures recorded: run the proof suites first (make proof)")
    figures: dict[str, dict[str, object]] = json.loads(FIGURES.read_text())
    width = max(len(f"{s}: {m}") for s, ms in figures.items() for m in ms)
    print(f"{'suite: figure':<{width}}  value")
    print("-" * (width + 8))
    for suite in sorted(figures):
        for measure, value in figures[suite].items():
            print(f"{suite + ': ' + measure:<{width}}  {value}")


if __name__ == "__main__":
    main()
