"""P2P Sandbox Explorer: everything that is not UI (settings, pools, models, services, health).

Never imports Streamlit: the app, the CLI and the tests call the same functions.
"""

__version__ = "0.1.0"
