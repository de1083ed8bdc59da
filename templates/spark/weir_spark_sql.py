"""Run one Spark SQL query over weir's inputs into weir's output, through
spark-submit: the route for Spark clusters without Spark Connect
(docs/spark.md).

A weir command job:

    [datasets.track_daily]
    partition = "day"
    inputs = ["plays"]
    format = "parquet"
    command = ["spark-submit", "--master", "local[2]",
               "scripts/weir_spark_sql.py", "sql/track_daily.sql"]

- Each input `WEIR_INPUT_<TABLE>` (the instance directories, joined by
  `:`) becomes a temporary view named `<table>` (lower case), read as
  Parquet. weir's `_SUCCESS` manifest is not data: Spark skips names that
  start with `_` or `.`.
- `{{ partition_start }}` and `{{ partition_end }}` in the query become
  the partition's bounds, as in weir's own SQL jobs.
- The result is written as zstd Parquet into `$WEIR_OUTPUT`. Spark's
  `_SUCCESS` and `.crc` files are removed, since weir's seal refuses names
  that are weir's and the instance must hold data only.
- `$WEIR_COUNTERS` gets `rows_out`.

weir fingerprints this script and the SQL file (both are named on the
command line), so changing either makes a new version.
"""

import json
import os
import shutil
import sys


def tidy(out):
    """Removes what Spark writes beside the data; refuses anything else."""
    for name in os.listdir(out):
        path = os.path.join(out, name)
        if name == "_SUCCESS" or name.endswith(".crc"):
            os.remove(path)
        elif name == "_temporary":
            shutil.rmtree(path)
        elif name.startswith(("_", ".")):
            raise SystemExit(f"Spark left {name} in the output; weir's seal would refuse it")


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: spark-submit weir_spark_sql.py QUERY.sql")
    with open(sys.argv[1], encoding="utf-8") as f:
        query = f.read()
    query = query.replace("{{ partition_start }}", os.environ["WEIR_PARTITION_START"])
    query = query.replace("{{ partition_end }}", os.environ["WEIR_PARTITION_END"])
    out = os.environ["WEIR_OUTPUT"]

    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.appName(f"weir {os.environ.get('WEIR_DATASET')} {os.environ.get('WEIR_PARTITION')}")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    try:
        for key, value in os.environ.items():
            if key.startswith("WEIR_INPUT_") and value:
                table = key[len("WEIR_INPUT_"):].lower()
                spark.read.parquet(*value.split(":")).createOrReplaceTempView(table)
        df = spark.sql(query)
        # One file, written straight into weir's staging directory.
        df.coalesce(1).write.mode("overwrite").option("compression", "zstd").parquet(out)
        rows = spark.read.parquet(out).count()
    finally:
        spark.stop()
    tidy(out)
    counters = os.environ.get("WEIR_COUNTERS")
    if counters:
        with open(counters, "w", encoding="utf-8") as f:
            json.dump({"rows_out": rows}, f)


if __name__ == "__main__":
    main()
