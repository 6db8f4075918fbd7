# syntax=docker/dockerfile:1
# The bot's image: one image for every process (web console, bot, sender, migration); the command chooses.
#   docker build -t khuyencong-bot .
#   docker run --rm -p 8000:8000 -e DATABASE_URL=postgresql://… khuyencong-bot      (the staff console)
#   docker run --rm -e DATABASE_URL=… -e BOT_TOKEN=… khuyencong-bot python -m bot  (the bot)

# --- build: the wheel (code, migrations, templates and catalogs), built from the source ---
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /source
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
COPY locales ./locales
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# --- run: the pinned dependencies, the wheel, a user without privileges ---
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN useradd --create-home --uid 10001 --user-group kc
# requirements.txt pins every runtime dependency (python scripts/lock.py): this layer changes only with it.
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt && rm /tmp/requirements.txt
# The .po catalogs are compiled in memory at every start (no .mo files to go stale in a read-only image);
# compiling them once here fails the build on a broken catalog instead of the first start.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-deps /wheels/*.whl && python -m bot compile-locales
# ./data is where SQLite (when DATABASE_URL is not set) and received files (MEDIA_DIR) are kept by default:
# mount a volume there.
WORKDIR /app
RUN mkdir -p /app/data/media && chown -R kc:kc /app
USER kc
EXPOSE 8000
# No HEALTHCHECK here: only the web console (and the Zalo webhook listener) serve /healthz, and every process
# runs from this image; compose.yaml checks the web processes.
CMD ["python", "-m", "bot", "web", "--host", "0.0.0.0"]
