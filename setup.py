"""greenlink: green patents, inter-city co-invention and technology transfer networks,
and the 3SLS system of the study, on Spark + Delta Lake.

Dependencies are pinned: the Spark, Delta and Python-side versions must move together
(see docs/architecture.md, "Dependencies").
"""
from setuptools import find_packages, setup

INSTALL_REQUIRES = [
    "pyspark==4.2.0",          # engine; Delta 4.4 targets Spark 4.2
    "delta-spark==4.4.0",      # Python API of the Delta jar io.delta:delta-spark_4.2_2.13:4.4.0 (jars/pom.xml)
    "pandas==2.3.3",           # PySpark 4.2 warns on pandas 3
    "numpy==2.4.6",
    "pyarrow==26.0.1",         # Arrow transfer for pandas UDFs and toPandas
    "scipy==1.17.1",           # Tobit / count-model likelihoods
    "statsmodels==0.15.0",     # reference estimators (OLS, NB) and linearmodels' dependency
    "linearmodels==7.1",       # IV3SLS / SUR system estimation
    "graphframes-py==0.11.0",  # Python API of io.graphframes:graphframes-spark4_2.13:0.11.0 (jars/pom.xml)
    "networkx==3.6.1",         # exact city-level truth in the generator; test oracle for centralities
    "cpca==0.5.5",             # Chinese address -> province/city/district, adcode gazetteer
    "jieba==0.42.1",           # Chinese word segmentation for policy texts
    "PyYAML==6.0.3",           # config and reference data
    "openpyxl==3.1.5",         # Excel inputs (small files)
    "deltalake==1.6.6",        # delta-rs: Spark-free reads of the Delta tables for analysts
    "duckdb==1.5.5",           # single-machine reference and analyst SQL over Delta/Parquet
    "duckdb-extension-delta==1.5.5",  # DuckDB delta_scan without a network download (same version as duckdb)
    "matplotlib==3.11.2",      # network maps and coefficient plots
    "psutil==7.2.2",           # peak memory in progress logs and benchmarks
    "threadpoolctl==3.7.0",    # pin BLAS to one thread inside estimation (reproducible, no oversubscription)
]

EXTRAS = {
    "dev": [
        "pytest==9.2.0",
        "nbclient==0.11.0",
        "nbformat==5.11.1",
        "ipykernel==7.4.0",
    ],
}

setup(
    name="greenlink",
    version="0.1.0",
    description="Green innovation networks of Chinese cities on Spark and Delta Lake",
    python_requires=">=3.11,<3.12",
    package_dir={"": "lib"},
    packages=find_packages("lib"),
    include_package_data=True,
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["greenlink=greenlink.ops.cli:main"]},
)
