# The app image for compose.yaml: Streamlit + p2p_store, pointed at real servers through
# DATABASE_URL / MONGODB_URL (the embedded development servers are not used in a container).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false

WORKDIR /app

# Dependencies first, so a code change does not reinstall them.
COPY requirements.txt ./
RUN pip install -r requirements.txt

# The repository's code (not .venv, .git or a local data dir: only what the app runs).
COPY app.py alembic.ini ./
COPY p2p_store/ p2p_store/
COPY migrations/ migrations/
COPY app_pages/ app_pages/
COPY seed/ seed/
COPY static/ static/
COPY .streamlit/ .streamlit/

RUN useradd --create-home --uid 10001 app && chown -R app:app /app
USER app

EXPOSE 8501
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=5 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://localhost:8501/_stcore/health', timeout=4)"
CMD ["sh", "-c", "python -m p2p_store up && exec streamlit run app.py --server.address 0.0.0.0 --server.port 8501 --server.headless true"]
