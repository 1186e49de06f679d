# Nippo service image: slim Python, non-root, migrations on start, health check on /healthz.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The Japanese font `nippo line richmenu install` draws the rich menu's words with.
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-ipafont-gothic \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY bot ./bot
COPY adapters ./adapters
COPY storage ./storage
COPY scheduler ./scheduler
COPY slack ./slack
COPY alembic ./alembic
RUN pip install -e . \
 && useradd --create-home --uid 10001 nippo \
 && mkdir -p /data && chown nippo /data

USER nippo
WORKDIR /data
ENV DATABASE_URL=sqlite:////data/nippo.db
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"

# `nippo serve` applies migrations before it listens.
CMD ["nippo", "serve", "--host", "0.0.0.0", "--port", "8000"]
