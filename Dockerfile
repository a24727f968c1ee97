# syntax=docker/dockerfile:1
# The MindHit API image: built with pip from pyproject.toml into a virtualenv, run as a non-root user.
#   docker build -t mindhit-api .
#   docker run --rm -e JWT_SECRET=... -e DATABASE_URL=... -p 127.0.0.1:8000:8000 mindhit-api
# The same image runs the schema migrations: `docker run ... mindhit-api python -m service migrate`.

ARG PYTHON_IMAGE=python:3.13.7-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first, from pyproject.toml alone (with empty packages standing in for the code), so a
# code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p otel service \
    && touch otel/__init__.py service/__init__.py \
    && pip install . \
    && pip uninstall --yes mindhit-telemetry
COPY otel ./otel
COPY service ./service
RUN pip install --no-deps . \
    && python -m compileall -q /opt/venv/lib

FROM ${PYTHON_IMAGE} AS runtime
ARG UID=10001
RUN groupadd --system --gid "${UID}" mindhit \
    && useradd --system --uid "${UID}" --gid mindhit --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin mindhit
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8000
# An empty working directory: the service reads an optional .env from here, and there is none.
WORKDIR /app
USER mindhit:mindhit
EXPOSE 8000
# Liveness only (/health touches nothing else); python is in the image, curl is not.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8000'), timeout=3)"]
CMD ["python", "-m", "service"]
