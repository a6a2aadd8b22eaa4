# Image of the Dagster code location `achats_innovants` (pipelines.definitions): a gRPC code server on port 4000,
# also the image of the run workers (K8sRunLauncher) and of one-off commands. Build and use: deploy/README.md.
#   docker build -t achats-innovants:$(git rev-parse --short HEAD) .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    DAGSTER_HOME=/opt/dagster/home \
    ACHATS_OUT_DIR=/data/published \
    ACHATS_RAW_DIR=/data/raw \
    ACHATS_SIRENE_PATH=/data/sirene/StockUniteLegale.parquet

WORKDIR /app
COPY pyproject.toml constraints.txt README.md LICENSE scrapy.cfg ./
COPY pipelines/ pipelines/
COPY scrapers/ scrapers/
COPY schemas/ schemas/
COPY deploy/ deploy/
COPY published/README.md /data/published/README.md

# Exactly the versions the tests ran with (constraints.txt), without the dev extras. Installed in place (-e) on
# purpose: the code finds schemas/ (schemas/source/ too) and scrapy.cfg next to pipelines/ and scrapers/, which a
# wheel in site-packages would leave behind. EXTRA_PIP adds deployment packages, e.g. "dagster-k8s==0.29.27"
# (same release train as dagster 1.13.27) for the k8s_job_executor.
ARG EXTRA_PIP=""
RUN pip install -c constraints.txt -e . ${EXTRA_PIP} \
    && useradd --system --uid 10001 --gid 0 --home-dir /app --shell /usr/sbin/nologin achats \
    && mkdir -p "$DAGSTER_HOME" /data/raw /data/sirene \
    && cp deploy/dagster-sqlite.yaml "$DAGSTER_HOME/dagster.yaml" \
    && chown -R achats:0 "$DAGSTER_HOME" /data \
    && chmod -R g=u "$DAGSTER_HOME" /data

# Raw snapshots, publications and the SIRENE cache outlive the container (a volume, a PVC on Kubernetes).
VOLUME ["/data"]
USER 10001
EXPOSE 4000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD ["dagster", "api", "grpc-health-check", "-p", "4000"]
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "pipelines.definitions", \
     "--location-name", "achats_innovants"]
