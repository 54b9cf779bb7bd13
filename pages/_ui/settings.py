"""The app's config (config.toml), validated, or its problems on screen."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from kpis.config import AppConfig, ConfigError, get_config
from pages._ui.nav import leave_folder_mode


def config() -> AppConfig:
    """The validated config, or the list of problems on screen and a stop."""
    leave_folder_mode()
    try:
        return get_config()
    except ConfigError as e:
        st.error(
            "**config.toml has problems, so the app cannot start.** Fix these and reload "
            "(`python -m kpis check-config` lists the same):"
        )
        st.dataframe(pd.DataFrame({"problem": e.problems}), hide_index=True, width="stretch")
        st.stop()
