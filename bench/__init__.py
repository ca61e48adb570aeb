"""`make bench`: load and growth benchmarks against PostgreSQL, Redis, gunicorn and Celery."""
