"""The app's Streamlit settings (.streamlit/config.toml) are options Streamlit knows, with the values
the project's measurements chose (#17, docs/benchmarks.md)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from streamlit import config

ROOT = Path(__file__).resolve().parents[1]


def _settings() -> dict[str, object]:
    parsed = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    return {f"{section}.{name}": value for section, options in parsed.items() for name, value in options.items()}


def test_every_setting_is_an_option_streamlit_knows():
    unknown = [name for name in _settings() if name not in config._config_options_template]
    assert unknown == []  # a misspelt option is ignored by Streamlit with only a log line


def test_no_full_collection_after_every_script_run_and_no_stack_traces():
    settings = _settings()
    assert settings["runner.postScriptGC"] is False  # ~0.37 s with the GIL held per run at scale 100
    assert settings["client.showErrorDetails"] == "none"
    assert {".venv", ".p2p-data"} <= set(settings["server.folderWatchBlacklist"])
