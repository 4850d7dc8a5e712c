"""The study's Spark session: one builder, the settings of :mod:`helpers.engines.dialect`.

``local[2]`` (the default) runs Spark inside this machine with two worker threads; on a
cluster pass the cluster's master URL (``params.yaml``: ``spark.master``). Spark needs a
Java 17+ runtime (:func:`java_version`); ``.ci/run`` installs Debian's
``openjdk-17-jre-headless`` where it is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Any

from helpers.engines.dialect import SPARK_CONF


def java_version() -> int | None:
    """Major version of the ``java`` on PATH (or in ``JAVA_HOME``), None if there is none."""
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java or not os.path.exists(java):
        return None
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 and match.group(2) else major


def spark_session(
    master: str = "local[2]",
    shuffle_partitions: int = 8,
    driver_memory: str = "2g",
    app_name: str = "clv-study",
    extra_conf: dict[str, str] | None = None,
) -> Any:
    """A SparkSession with the study's settings (reused if one is already running).

    Parameters
    ----------
    master : str
        Spark master URL: ``local[N]`` (N worker threads on this machine),
        ``spark://host:7077``, ``yarn``, ``k8s://...``.
    shuffle_partitions : int
        ``spark.sql.shuffle.partitions``: partitions of every group-by / window
        (Spark's default of 200 is far too many for a local run).
    driver_memory : str
        ``spark.driver.memory`` (JVM heap of the driver; in local mode, of everything).
        It only takes effect when this call starts the JVM.
    extra_conf : dict, optional
        More ``spark.*`` settings.
    """
    version = java_version()
    if version is None or version < 17:
        raise RuntimeError(
            "Spark needs a Java 17+ runtime and none was found "
            f"(java -version: {version}); install Debian's openjdk-17-jre-headless "
            "(`apt-get install -y openjdk-17-jre-headless`) or set JAVA_HOME"
        )
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.sql.shuffle.partitions", str(int(shuffle_partitions)))
        .config("spark.driver.memory", driver_memory)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
    )
    for key, value in {**SPARK_CONF, **(extra_conf or {})}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    # a reused session keeps its JVM, but these runtime settings are (re)applied
    session.conf.set("spark.sql.shuffle.partitions", str(int(shuffle_partitions)))
    for key, value in SPARK_CONF.items():
        session.conf.set(key, value)
    return session
