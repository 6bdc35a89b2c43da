# The image of docker-compose.yaml: the official Airflow image (the Airflow version this checkout is
# developed against) with this provider and its PostgreSQL extra installed, as
# https://airflow.apache.org/docs/docker-stack/build.html recommends: nothing installs at start-up.
# The example DAGs are not copied in: docker-compose.yaml mounts ./dags at /opt/airflow/dags.
FROM apache/airflow:3.3.2-python3.11

USER root
# /opt/airflow/simple-auth: the simple auth manager's passwords file (a named volume, which starts with
# this directory's owner).
RUN mkdir -p /opt/restsync /opt/airflow/simple-auth \
    && chown airflow:root /opt/restsync /opt/airflow/simple-auth
USER airflow

COPY --chown=airflow:root pyproject.toml README.md /opt/restsync/
COPY --chown=airflow:root airflow_provider_restsync/ /opt/restsync/airflow_provider_restsync/
# Pinning the image's own Airflow keeps pip from upgrading or downgrading it.
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" "/opt/restsync[postgres]"
