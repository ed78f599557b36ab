# NASBoard image: the API and the workers run from it with different `nasboard` commands.
# EXTRAS=worker (default) installs torch for training; EXTRAS=api builds the smaller torch-free image that
# serves the API and the CLI client (docker-compose.yml builds the api and migrate services that way).
# CUDA wheels of torch are picked by pip on x86_64 Linux; the worker service reserves the GPU in compose.
FROM python:3.11-slim
ARG EXTRAS=worker

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    NASBOARD_DATA_DIR=/data

WORKDIR /app
# Dependencies first so code changes do not reinstall torch.
COPY pyproject.toml README.md ./
RUN mkdir -p backend worker && touch backend/__init__.py worker/__init__.py \
    && pip install ".[${EXTRAS}]" && pip uninstall -y nasboard
COPY alembic.ini ./
COPY migrations ./migrations
COPY backend ./backend
COPY worker ./worker
COPY frontend ./frontend
RUN pip install --no-deps -e .

VOLUME ["/data"]
EXPOSE 8000
CMD ["nasboard", "api", "--host", "0.0.0.0", "--port", "8000"]
