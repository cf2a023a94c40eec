"""Streamlit page modules (thin: widgets and layout; logic lives in p2p_store)."""
