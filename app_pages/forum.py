import streamlit as st

from app_pages import shell

me = shell.page_guard()
st.title("forum")
st.info("This page is being built.")
