"""Worker jobs: the Job table is the source of truth; Celery only delivers them."""
