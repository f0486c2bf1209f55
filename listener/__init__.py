"""The listener: one active process turning platform notifications into Celery tasks.

Run it with ``python -m listener`` (or ``glipbot-listener``).
"""
