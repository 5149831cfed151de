# syntax=docker/dockerfile:1
# The kubeloop platform image: operator, gateway, prediction-log collector, MLflow server, drift jobs,
# pipeline components and the model-server runtimes. One image, chosen by command (see charts/kubeloop).
# Build: docker build -t ghcr.io/kubeloop/kubeloop:0.1.0 .   (or `skaffold build`)

# Exact tag; CI that can reach the registry should pin the digest too (FROM python:...@sha256:...).
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first (read from pyproject.toml), so a source edit does not re-install them.
COPY pyproject.toml ./
RUN pip install "pip==24.3.1" "setuptools==75.6.0" "wheel==0.45.1" \
 && python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" \
    > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt "psycopg2-binary==2.9.10" "boto3==1.35.76"
COPY setup.py README.md ./
COPY platform ./platform
COPY components ./components
COPY serving ./serving
RUN pip install --no-deps . \
 && python -c "import kubeloop, kubeloop.serving, kubeloop.components"

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="kubeloop" \
      org.opencontainers.image.source="https://github.com/kubeloop/kubeloop" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
RUN groupadd --gid 10001 kubeloop \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin kubeloop
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080
ENTRYPOINT ["kubeloop"]
CMD ["--help"]

# `skaffold dev` target: the kubeloop package is owned by the app user so synced *.py files can land.
FROM runtime AS dev
USER 0
RUN chown -R 10001:10001 /opt/venv/lib/python3.11/site-packages/kubeloop
USER 10001:10001
