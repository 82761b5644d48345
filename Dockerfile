# Same install path as the README: `make install` into .venv, pinned by constraints.txt.
FROM python:3.11-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends make git \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml constraints.txt Makefile README.md dagster.yaml workspace.yaml ./
COPY lakehouse_ml ./lakehouse_ml
RUN make install
ENV PATH="/app/.venv/bin:${PATH}"
EXPOSE 3000
# The webserver with the project loaded; data/ is a volume so tables survive the container.
VOLUME ["/app/data"]
CMD ["make", "ui", "UI_HOST=0.0.0.0"]
