-- The destination database of the example DAGs, beside Airflow's own metadata database.
CREATE DATABASE warehouse OWNER airflow;
