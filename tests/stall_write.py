"""`python tests/stall_write.py TABLE <greenlink arguments>`: runs the greenlink CLI with every
write of TABLE stalled, for tests/integration/test_faults.py. The write runs as two tasks: one writes its
data files, the other sleeps, so the write never commits and the test can kill the process in
the middle of a Delta write deterministically instead of racing it. (A stall inside a single
task would stop before any file opens: a partitioned write sorts its whole input first.)
The hook lives here, in the tests, wrapped around `tables._write`: production writes carry none."""
from __future__ import annotations

import sys
import time

from pyspark.sql import DataFrame

from greenlink.core import tables
from greenlink.ops import cli


def stalled(df: DataFrame) -> DataFrame:
    def stall(batches):
        from pyspark import TaskContext

        if TaskContext.get().partitionId() == 1:
            time.sleep(3600)
        yield from batches

    return df.repartition(2).mapInArrow(stall, df.schema)


def main(table: str, argv: list[str]) -> int:
    write = tables._write

    def stalling_write(df, spec, *args, **kwargs):
        return write(stalled(df) if spec.name == table else df, spec, *args, **kwargs)

    tables._write = stalling_write
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
