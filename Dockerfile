# syntax=docker/dockerfile:1
# The store's image: web (gunicorn), Celery worker and beat all run from it.
#   docker build -t container-store .
# The seed's advice for publishers' images, followed: a small official base (Debian slim), few
# layers, nothing that was needed only to build left in the image, and a non-root user. Instead of
# installing compilers and removing them in the same RUN, they live only in a build stage that the
# final image never contains (a multi-stage build: the same effect, with nothing to forget to purge).

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# Most requirements ship binary wheels; the compilers are for platforms where one does not.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential libpq-dev \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.txt /tmp/requirements.txt
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --upgrade pip \
    && /opt/venv/bin/pip install -r /tmp/requirements.txt


FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=store.settings \
    WEB_CONCURRENCY=3
# WEB_CONCURRENCY: gunicorn worker processes per container.
# A fixed uid, so a volume's files keep their owner when the image is rebuilt.
RUN groupadd --system --gid 10001 store \
    && useradd --system --uid 10001 --gid store --home-dir /app --no-create-home --shell /usr/sbin/nologin store
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
# The code stays owned by root: the app user can read it but not change it.
COPY . .
# collectstatic imports the settings, which insist on a SECRET_KEY when DEBUG is off. This one
# exists only for this command (it is not an ENV, so it is not in the image); containers get
# theirs from the environment. Bytecode is compiled now because the app user cannot write it
# later; data/ is the only place the app writes (uploads under data/media).
RUN SECRET_KEY=collectstatic-at-build-time-only STORE_DATA_DIR=/tmp/build-data \
        python manage.py collectstatic --no-input --verbosity 0 \
    && rm -rf /tmp/build-data \
    && python -m compileall -q /app \
    && mkdir -p /app/data/media \
    && chown -R store:store /app/data
USER store
EXPOSE 8000
# python, not curl: the slim image has no curl. urlopen raises on a 503, so the check fails then.
# The Host header is the first of ALLOWED_HOSTS, or Django would answer 400 to "127.0.0.1".
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; h = os.environ.get('ALLOWED_HOSTS', '').split(',')[0].strip().lstrip('.').replace('*', '') or 'localhost'; r.urlopen(r.Request('http://127.0.0.1:8000/healthz', headers={'Host': h}), timeout=4)"]
CMD ["gunicorn", "store.wsgi", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
