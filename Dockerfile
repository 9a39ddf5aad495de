# syntax=docker/dockerfile:1
# racereplay in a container: `docker build -t racereplay .`, then
# `docker run -p 127.0.0.1:8000:8000 racereplay` serves http://localhost:8000 (compose.yaml
# does the same with named volumes). The image is not built in this project's CI (no
# Docker daemon there): `make lint` lints this file with hadolint, and
# tests/test_packaging.py runs its steps (client build, wheel, fresh environment,
# `racereplay serve`, /api/health, the page playing in Chromium).

# 1. The web client: Vite writes it into the package's static folder.
FROM node:20-bookworm-slim AS client
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

# 2. The wheel, with the client built above (no npm here: setup.py packages it as it is).
FROM python:3.12-slim-bookworm AS wheel
WORKDIR /src
COPY pyproject.toml setup.py MANIFEST.in README.md ./
COPY src/ src/
COPY --from=client /src/src/racereplay/server/static/ src/racereplay/server/static/
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /dist .

# 3. The runtime: the wheel with FastF1, run by an unprivileged user.
FROM python:3.12-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=wheel /dist/ /tmp/dist/
# DL3013 (pin pip versions): the package is the wheel built above; its dependencies keep
# the ranges pyproject.toml gives them.
# hadolint ignore=DL3013
RUN set -- /tmp/dist/racereplay-*.whl \
    && pip install --no-cache-dir "$1[fastf1,redis]" \
    && rm -rf /tmp/dist \
    && useradd --create-home --uid 10001 racereplay \
    && mkdir -p /cache/timelines /cache/fastf1 /data \
    && chown racereplay:racereplay /cache/timelines /cache/fastf1 /data
# Every `serve` option reads a RACEREPLAY_* variable (README, "Settings"). It listens on
# every interface of the container; the Host header must still be localhost or
# 127.0.0.1 unless RACEREPLAY_ALLOW_HOST names the host the users type in.
ENV RACEREPLAY_HOST=0.0.0.0 \
    RACEREPLAY_PORT=8000 \
    RACEREPLAY_CACHE=/cache/timelines \
    RACEREPLAY_FASTF1_CACHE=/cache/fastf1 \
    RACEREPLAY_DATA=/data
VOLUME ["/cache/timelines", "/cache/fastf1", "/data"]
USER 10001
WORKDIR /home/racereplay
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/api/health' % os.environ.get('RACEREPLAY_PORT', '8000'), timeout=4)"]
ENTRYPOINT ["racereplay"]
CMD ["serve"]
