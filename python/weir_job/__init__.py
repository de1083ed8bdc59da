"""weir_job: the WEIR_* contract of a weir command job, in Python.

weir starts a command job once per instance, with its context in the
environment (see docs/reference.md, "Command jobs"). This module reads it:

    import weir_job

    for row in weir_job.rows("plays"):          # an input's JSON lines / CSV rows
        ...
    table = weir_job.dataset("plays").to_table()  # or as a pyarrow dataset
    (weir_job.output() / "model.json").write_text(...)
    weir_job.counter("rows.dropped", 3)          # recorded with the run
    print(weir_job.partition(), weir_job.start(), weir_job.end())

Pure Python; pyarrow is needed only by dataset(). Install it with
`pip install ./python` from weir's repository, or use the copy `weir init`
and `weir demo` put in a project's scripts/ (a script in scripts/ imports it
as is, and its content is part of the job's version, like the script's).
"""

import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path

__all__ = [
    "ContractError",
    "dataset",
    "dataset_name",
    "version",
    "run_id",
    "partition",
    "partition_value",
    "start",
    "end",
    "output",
    "inputs",
    "input_dirs",
    "input_files",
    "rows",
    "counter",
    "counters",
]

__version__ = "0.1.0"

_I64 = (-(2**63), 2**63 - 1)
_COUNTER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_counts = {}


class ContractError(RuntimeError):
    """The environment is not that of a weir command job, or a value is wrong."""


def _var(name):
    value = os.environ.get(name)
    if value is None:
        raise ContractError(
            f"{name} is not set: run this script as a weir command job (`weir run`), "
            f"or set the WEIR_* variables by hand to try it (docs/reference.md lists them)"
        )
    return value


def dataset_name():
    """The dataset being built (WEIR_DATASET)."""
    return _var("WEIR_DATASET")


def version():
    """The version being built (WEIR_VERSION)."""
    return _var("WEIR_VERSION")


def run_id():
    """This run's id (WEIR_RUN_ID)."""
    return _var("WEIR_RUN_ID")


def partition():
    """The partition's key as in paths: 'date=2026-03-01', 'hour=2026-03-01T06',
    'month=2026-03', or 'all' for a snapshot (WEIR_PARTITION)."""
    return _var("WEIR_PARTITION")


def partition_value():
    """The partition's value without its key's name: '2026-03-01', or 'all'."""
    return partition().split("=", 1)[-1]


def _time(name):
    text = _var(name)
    try:
        # Python before 3.11 does not read a trailing Z.
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ContractError(f"{name} is not an RFC 3339 time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def start():
    """The partition's first instant, an aware datetime (WEIR_PARTITION_START)."""
    return _time("WEIR_PARTITION_START")


def end():
    """The partition's end, exclusive, an aware datetime (WEIR_PARTITION_END)."""
    return _time("WEIR_PARTITION_END")


def output():
    """The staging directory to write the output's files into (WEIR_OUTPUT)."""
    return Path(_var("WEIR_OUTPUT"))


def inputs():
    """The names of the job's inputs (its `inputs` tables), lower-case, sorted."""
    names = []
    for key in os.environ:
        if key.startswith("WEIR_INPUT_") and not key.endswith("_URL"):
            names.append(key[len("WEIR_INPUT_"):].lower())
    return sorted(names)


def input_dirs(name):
    """The sealed directories of input `name`, oldest partition first."""
    key = "WEIR_INPUT_" + name.upper()
    if key not in os.environ:
        known = ", ".join(inputs()) or "none"
        raise ContractError(f"no input named {name!r} (this job's inputs: {known})")
    return [Path(d) for d in os.environ[key].split(":") if d]


def input_files(name, suffix=None):
    """The data files of input `name`, in order: directory by directory,
    sorted by name within one. weir's own files (`_SUCCESS`, names starting
    with `_` or `.`) are left out; `suffix` keeps only names ending with it."""
    files = []
    for d in input_dirs(name):
        for f in sorted(d.iterdir()):
            if f.name.startswith(("_", ".")) or not f.is_file():
                continue
            if suffix is None or f.name.endswith(suffix):
                files.append(f)
    return files


def rows(name):
    """The rows of input `name` as dicts, from its JSON-lines and CSV files
    (pure Python; CSV values are strings). Parquet needs dataset(). An
    unknown input is refused at the call, not at the first row."""
    return _rows(name, input_files(name))


def _rows(name, files):
    import csv

    for f in files:
        if f.suffix in (".jsonl", ".json", ".ndjson"):
            with open(f, encoding="utf-8") as fh:
                for line in fh:
                    if line.strip():
                        yield json.loads(line)
        elif f.suffix == ".csv":
            with open(f, encoding="utf-8", newline="") as fh:
                yield from csv.DictReader(fh)
        elif f.suffix == ".parquet":
            raise ContractError(f"{f} is Parquet: read input {name!r} with weir_job.dataset({name!r}) (needs pyarrow)")


_FORMATS = {".parquet": "parquet", ".jsonl": "json", ".json": "json", ".ndjson": "json", ".csv": "csv"}


def dataset(name):
    """Input `name` as a pyarrow.dataset.Dataset over its data files (Parquet,
    JSON lines or CSV). Needs pyarrow."""
    try:
        import pyarrow.dataset as pads
    except ImportError:
        raise ContractError(
            "weir_job.dataset() needs pyarrow (pip install pyarrow); weir_job.rows() and "
            "weir_job.input_files() work without it"
        ) from None
    files = [f for f in input_files(name) if f.suffix in _FORMATS]
    formats = sorted({_FORMATS[f.suffix] for f in files})
    if len(formats) > 1:
        raise ContractError(f"input {name!r} mixes formats ({', '.join(formats)}): read it with input_files()")
    return pads.dataset([str(f) for f in files], format=formats[0] if formats else "parquet")


def counter(name, value=1):
    """Adds `value` (an integer) to counter `name`, and records it at once in
    WEIR_COUNTERS, which weir reads when the job exits 0. Returns the total."""
    if not isinstance(name, str) or not _COUNTER_NAME.match(name):
        raise ContractError(f"counter name {name!r}: use letters, digits, '_', '.' and '-', starting with a letter or '_'")
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ContractError(f"counter {name!r}: {value!r} is not an integer (counters count)")
    total = _counts.get(name, 0) + value
    if not _I64[0] <= total <= _I64[1]:
        raise ContractError(f"counter {name!r}: {total} does not fit in 64 bits")
    _counts[name] = total
    path = _var("WEIR_COUNTERS")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(_counts, fh, sort_keys=True)
    return total


def counters():
    """The counters recorded so far by this process."""
    return dict(_counts)
