"""Where the project's own files live (conf/, jars/, .cache/), wherever it is run from."""
from __future__ import annotations

import os
from pathlib import Path

# lib/greenlink/core/paths.py -> project root (editable install or a checkout on PYTHONPATH)
PROJECT_ROOT = Path(__file__).resolve().parents[3]
CONF_DIR = Path(os.environ.get("GREENLINK_CONF", PROJECT_ROOT / "conf"))
JAR_CACHE = Path(os.environ.get("GREENLINK_JARS", PROJECT_ROOT / ".cache" / "jars"))
POM = PROJECT_ROOT / "jars" / "pom.xml"
