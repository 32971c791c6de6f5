"""Count the hostile-input catalogue: cases, clear errors, correct models (docs/user_guide/reliability.rst).

A case is one collected test of tests/test_hostile.py or tests/test_red_team.py; it counts
as a clear error when its test asserts one (pytest.raises or a command's failing status).
"""

import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
FILES = ("test_hostile.py", "test_red_team.py")
ASSERTS_AN_ERROR = re.compile(r"pytest\.raises|fails\(|code in \(1, 2\)|code == [12]\b|returncode == 1")


def main() -> None:
    sys.path.insert(0, str(HERE))
    listing = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                              *(str(HERE / f) for f in FILES)], capture_output=True, text=True, check=True).stdout
    cases = [line for line in listing.splitlines() if "::" in line]
    errors = 0
    for case in cases:
        path, name = case.split("::")
        module = importlib.import_module(Path(path).stem)
        errors += bool(ASSERTS_AN_ERROR.search(inspect.getsource(getattr(module, name.split("[")[0]))))
    print(f"{len(cases)} cases: {errors} clear errors, {len(cases) - errors} correct models")


if __name__ == "__main__":
    main()
