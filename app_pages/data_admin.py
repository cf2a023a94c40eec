import streamlit as st

from app_pages import shell

me = shell.page_guard(roles=("admin",))
st.title("data_admin")
st.info("This page is being built.")
